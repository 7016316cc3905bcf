import type { Connection } from '../config/schema.ts';
import type { JobMessageInput, RunMessage, Window } from '../jobs/messages.ts';
import type { ProviderContext } from '../providers/types.ts';
import type { ExportJob, JobSpec, ListingJob, ProviderSpec } from './provider-spec.ts';
import { landOne } from './run-listing.ts';
import { windowFor } from './window.ts';

/** The scopes a run covers: the message's, the connection's list, or the provider's discovery. */
async function scopesOf<C extends Connection>(
  spec: ProviderSpec<C>,
  message: RunMessage,
  ctx: ProviderContext<C>,
): Promise<string[]> {
  if (message.scopes?.length) return message.scopes;
  if (ctx.connection.scopes !== 'discover') return ctx.connection.scopes;
  return [...new Set(await spec.discoverScopes(ctx))];
}

async function windowOf<C extends Connection>(
  message: RunMessage,
  ctx: ProviderContext<C>,
  scope: string,
): Promise<Window> {
  if (message.window) return message.window;
  const watermark = await ctx.state.getWatermark(ctx.connection.provider, ctx.connection.id, scope);
  return windowFor(ctx.connection, watermark, ctx.now());
}

/**
 * A run for one connection, on the function that received it. Jobs routed to this function fan out one
 * fetch message per scope (a listing after its scope was prepared, an export's create on its own message);
 * jobs routed to another function get a run message there. Nothing is sent until every scope was
 * prepared, so a bad filter stops the run whole with an error naming it. A run for one invoice fetches it
 * here, in the first scope that knows it.
 */
export async function runConnection<C extends Connection>(
  spec: ProviderSpec<C>,
  message: RunMessage,
  ctx: ProviderContext<C>,
): Promise<void> {
  const mine = spec.jobs.filter((j) => j.route === message.job);
  const listings = mine.filter((j): j is ListingJob<C> => j.kind === 'listing');
  const exportJobs = mine.filter((j): j is ExportJob<C> => j.kind === 'export');

  if (message.invoiceId) {
    const job = listings.find((j) => j.fetchById);
    if (!job) {
      throw Object.assign(
        new Error(`${spec.id} ${message.job ?? ''} cannot fetch one invoice by id`.trim()),
        {
          name: 'ConfigError',
          retryable: false,
        },
      );
    }
    await landOne(job, ctx, await scopesOf(spec, message, ctx), message.invoiceId, {});
    return;
  }

  const messages: JobMessageInput[] = [];
  const covered: Array<{ job: string; scope: string; window: Window }> = [];
  const fetch = (job: JobSpec<C>, scope: string, window: Window, state: Record<string, unknown>) => {
    covered.push({ job: job.name, scope, window });
    messages.push({
      v: 1,
      type: 'fetch',
      runId: message.runId,
      provider: spec.id,
      connection: ctx.connection.id,
      ...(job.route ? { job: job.route } : {}),
      scope,
      window,
      state: { job: job.name, ...state },
      startedAt: ctx.now().toISOString(),
      continuation: 0,
      ...(message.full ? { full: true } : {}),
    });
  };

  if (listings.length) {
    const scopes = await scopesOf(spec, message, ctx);
    for (const job of listings) {
      for (const scope of scopes) {
        const window = await windowOf(message, ctx, scope);
        const args = (await job.prepare?.(ctx, scope, window)) ?? {};
        fetch(job, scope, window, { args });
      }
    }
    ctx.log.info('run fanned out', { scopes: scopes.length, jobs: listings.map((j) => j.name) });
  }
  for (const job of exportJobs) {
    const skip = job.skip?.(ctx.connection);
    if (skip) throw Object.assign(new Error(skip), { name: 'ConfigError', retryable: false });
    const scopes = job.scopes?.(ctx, message) ?? (await scopesOf(spec, message, ctx));
    for (const scope of scopes) fetch(job, scope, await windowOf(message, ctx, scope), {});
  }
  // What the run covers, for its control totals (read back once its messages are done).
  for (const c of covered) await ctx.state.addRunScope?.(ctx.runId, ctx.connection.id, c);
  if (messages.length) await ctx.queue.sendBatch(messages);

  // A run on the provider's main function starts its jobs that other functions run.
  if (message.job === undefined) {
    const routes = new Set(
      spec.jobs
        .filter((j) => j.route !== undefined && !(j.kind === 'export' && j.skip?.(ctx.connection)))
        .map((j) => j.route!),
    );
    const { notBefore: _n, ...run } = message;
    for (const route of routes) await ctx.queue.send({ ...run, job: route });
  }
}
