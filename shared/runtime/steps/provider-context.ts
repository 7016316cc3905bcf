import type { Context } from 'aws-lambda';
import { s3Client } from '../../aws/clients.ts';
import { S3Sink } from '../../aws/sink.ts';
import { findConnection, runtimeConfig } from '../../config/load.ts';
import { type Connection, providerSettings } from '../../config/schema.ts';
import type { ProviderSpec } from '../../engine/provider-spec.ts';
import { specHttp } from '../../engine/spec-http.ts';
import { lambdaBudget } from '../../http/budget.ts';
import type { JobMessage } from '../../jobs/messages.ts';
import { asLog } from '../../log/logger.ts';
import type { JobQueue, ProviderContext } from '../../providers/types.ts';
import type { FrameDeps } from './frame-deps.ts';
import type { MessageCounters } from './message-counters.ts';

/** Stop starting new provider calls this long before the Lambda's own timeout. */
export const BUDGET_MARGIN_MS = 10_000;

/** Secret JSON by name, cached briefly per container (rotations show up within the max age), checked against the spec's schema. */
async function loadSecret(spec: ProviderSpec, connection: Connection): Promise<Record<string, string>> {
  const { getSecretJson, parseSecret } = await import('../../aws/secrets.ts');
  return parseSecret(spec.secret, await getSecretJson(connection.secretName), connection.secretName);
}

/**
 * What the engine sees of the runtime for one message: its connection (an unknown one is a ConfigError,
 * which no retry fixes), secret, HTTP client, sink, state, queue, counters, problems and budget.
 * `settled()` waits for the problems reported along the way to be recorded, and rethrows if one could not be.
 */
export async function providerContext(
  deps: FrameDeps,
  spec: ProviderSpec,
  message: JobMessage,
  context: Context,
  queue: JobQueue,
  counters: Pick<MessageCounters, 'count' | 'tallied'>,
): Promise<{ ctx: ProviderContext; settled: () => Promise<void> }> {
  const { count } = counters;
  const config = runtimeConfig();
  const connection = findConnection(config, message.connection, message.provider);
  const budget = lambdaBudget(context, BUDGET_MARGIN_MS);
  const log = asLog(deps.logger);
  const problems: Promise<void>[] = [];
  let problemError: unknown;
  const secret = await loadSecret(spec, connection);
  const http = specHttp(spec.id, spec.client, connection, secret, {
    budget,
    log,
    onEvent: (e) => {
      if (e.type === 'retry') count('retries');
      if (e.type === 'throttle') count('throttles');
    },
    allowLoopback: deps.env.allowLoopback,
    extraDownloadHosts: [...deps.env.extraDownloadHosts, ...(connection.endpoints?.downloadHosts ?? [])],
    deferThresholdMs: deps.env.deferThresholdMs,
    ratePlanScale: deps.env.ratePlanScale,
    sharedRate: deps.state.rates,
    // The provider's function may run this many containers at once, each with its own buckets.
    containers: providerSettings(config, spec.id).maxConcurrency,
  });
  const ctx: ProviderContext = {
    connection,
    runId: message.runId,
    secret,
    http,
    // Bytes count what was copied from the provider (answers, documents, reports, ZIPs), not the month or
    // reconciliation files made from it (`derived`).
    sink: new S3Sink(s3Client(), deps.env.bucket, { onStored: (stored) => count('bytes', stored.bytes) }),
    state: deps.state,
    invoices: deps.state.invoices,
    queue,
    log,
    count,
    tallied: counters.tallied,
    reportProblem: (p) => {
      log.warn('problem', { code: p.code, problem: p.message, key: p.key });
      problems.push(
        deps.state
          .addProblem(message.runId, { connection: message.connection, ...p })
          .catch((err: unknown) => {
            problemError ??= err;
          }),
      );
    },
    reportGap: (gap) => {
      log.warn('control totals gap', {
        code: gap.code,
        scope: gap.scope,
        invoiceId: gap.invoiceId,
        field: gap.field,
      });
      problems.push(
        deps.state.addGap(message.runId, message.connection, gap).catch((err: unknown) => {
          problemError ??= err;
        }),
      );
    },
    budget,
    now: () => new Date(),
  };
  return {
    ctx,
    settled: async () => {
      await Promise.all(problems);
      if (problemError) throw problemError;
    },
  };
}
