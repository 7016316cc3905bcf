import { exportKey } from '../aws/state-store.ts';
import type { Connection } from '../config/schema.ts';
import type { FetchMessage, Window } from '../jobs/messages.ts';
import type { ProviderContext } from '../providers/types.ts';
import { startPolling } from './poll-export.ts';
import type { ExportJob } from './provider-spec.ts';

/** The registry key of a job's export for a scope and window (its identity: filters, window...). */
export function exportKeyOf<C extends Connection>(
  job: ExportJob<C>,
  ctx: ProviderContext<C>,
  scope: string,
  window: Window,
): string {
  return exportKey(ctx.connection.provider, ctx.connection.id, scope, job.identity(ctx, scope, window));
}

/**
 * The export half of a run, carried by its own fetch message (so a throttled create defers only itself):
 * find-before-create in the registry (never a second export for the same connection, scope, window and
 * arguments), a look at the provider's own list for a create whose answer was lost (where the provider
 * has one), else create; then poll. A found export still being worked on gets a poll of its own: its
 * first chain may have died.
 */
export async function startExport<C extends Connection>(
  message: FetchMessage,
  job: ExportJob<C>,
  ctx: ProviderContext<C>,
): Promise<void> {
  const conn = ctx.connection;
  const scope = message.scope;
  const window = message.window;
  const key = exportKeyOf(job, ctx, scope, window);
  const previous = await ctx.state.getExport(key);
  const { record, created } = await ctx.state.findOrCreateExport(
    {
      key,
      provider: conn.provider,
      connection: conn.id,
      scope,
      runId: ctx.runId,
      deadlineMs: job.deadlineMs(),
      details: { job: job.name, ...(job.details?.(ctx, scope, window) ?? {}) },
    },
    async () => {
      // A claim left by a create that crashed midway: the provider may hold that export already.
      if (job.find && previous && !previous.exportId && previous.state === 'CREATING') {
        const found = await job.find(ctx, scope, window, new Date(previous.createdAt));
        if (found) return { exportId: found.exportId, details: { ...(found.details ?? {}), adopted: true } };
      }
      const claimedAt = new Date();
      try {
        return await job.create(ctx, scope, window);
      } catch (err) {
        // An answer that may or may not have been acted on: look for the export before anything resends.
        if (!(err as { ambiguous?: boolean })?.ambiguous || !job.find) throw err;
        const found = await job.find(ctx, scope, window, claimedAt);
        if (found) return { exportId: found.exportId, details: { ...(found.details ?? {}), adopted: true } };
        throw err;
      }
    },
  );
  const documentIds = (record.details?.documentIds as string[] | undefined) ?? [];
  const copiedAll = record.state === 'DONE' && documentIds.every((id) => record.copied[id]);
  ctx.log.info(created ? 'export created' : 'export reused', {
    job: job.name,
    exportId: record.exportId,
    state: record.state,
    scope,
    window,
  });
  if (created || !copiedAll) await startPolling(ctx as unknown as ProviderContext, record);
}
