import { createRng, type Seed } from './seed.ts';

/**
 * Ids a simulator mints (request ids, export ids, statement ids) fixed by the seed and by what they
 * are for, not drawn from one stream: `ids.uuid('export', seller, body)` is the same on every run for
 * the first export of that seller and body, the second such call gets the second id, and exports of
 * other sellers arriving in between (or in another order) shift nothing.
 */
export class StableIds {
  private readonly counts = new Map<string, number>();

  constructor(private readonly seed: Seed) {}

  /** The next id for these parts: a version-4-shaped UUID (deterministic, so nothing secret). */
  uuid(...parts: ReadonlyArray<string | number>): string {
    const key = parts.join('\u241f');
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    return createRng(`${this.seed}\u241f${key}\u241f${n}`).uuid();
  }
}
