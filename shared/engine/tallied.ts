import type { ProviderContext } from '../providers/types.ts';

/**
 * Runs work with its landed counts held apart (ctx.tallied): they count once `keep` is called, not at all
 * if the work fails. Without ctx.tallied the work counts as it goes and `keep` does nothing.
 */
export const tallied = <T>(
  ctx: ProviderContext,
  work: () => Promise<T>,
): Promise<{ value: T; keep: () => void }> =>
  ctx.tallied ? ctx.tallied(work) : work().then((value) => ({ value, keep: () => {} }));
