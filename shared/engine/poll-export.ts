import type { DynamoStateStore } from '../aws/state-store.ts';
import type { PollMessage } from '../jobs/messages.ts';
import type { ExportRecord, ProviderContext } from '../providers/types.ts';
import { numberEnv } from '../runtime/env.ts';
import type { ExportJob, ProviderSpec } from './provider-spec.ts';
import { tallied } from './tallied.ts';
import { withUrlRenewal } from './url-renewal.ts';

export interface PollSchedule {
  firstDelaySeconds: number;
  factor: number;
  maxDelaySeconds: number;
}

export function pollSchedule(env: NodeJS.ProcessEnv = process.env): PollSchedule {
  return {
    firstDelaySeconds: numberEnv('POLL_FIRST_DELAY_SECONDS', 30, env),
    factor: Math.max(1, numberEnv('POLL_FACTOR', 1.5, env)),
    maxDelaySeconds: numberEnv('POLL_MAX_DELAY_SECONDS', 900, env),
  };
}

/** Growing delay before check number `attempt`, never past the export's deadline. */
export function nextPollDelay(schedule: PollSchedule, attempt: number, now: Date, deadline: Date): number {
  const grown = schedule.firstDelaySeconds * schedule.factor ** attempt;
  const capped = Math.min(schedule.maxDelaySeconds, grown);
  const untilDeadline = Math.max(1, (deadline.getTime() - now.getTime()) / 1000);
  return Math.max(1, Math.ceil(Math.min(capped, untilDeadline)));
}

/** What a provider calls once it has registered an export: the first poll, after the first delay. */
export async function startPolling(
  ctx: ProviderContext,
  record: ExportRecord,
  schedule = pollSchedule(),
): Promise<void> {
  if (!record.exportId) throw new Error(`export ${record.key} has no provider id yet`);
  await ctx.queue.send(
    {
      v: 1,
      type: 'poll',
      runId: ctx.runId,
      provider: record.provider,
      connection: record.connection,
      scope: record.scope,
      exportKey: record.key,
      exportId: record.exportId,
      createdAt: record.createdAt,
      deadline: record.deadline,
      attempt: 0,
    },
    { delaySeconds: schedule.firstDelaySeconds },
  );
}

/** How often one document is asked for again after its download URL expired mid-copy. */
const URL_RENEWALS = 8;

export type PollOutcome = 'pending' | 'done' | 'failed' | 'expired' | 'replaced';

/**
 * One poll of one export: check it, and either schedule the next check, record its failure, or copy
 * each document not yet copied (a fresh URL for each), recording every copy as it lands so a retried
 * poll never copies twice.
 */
export async function pollExport(
  message: PollMessage,
  ctx: ProviderContext,
  spec: ProviderSpec,
  deps: { state: DynamoStateStore; schedule?: PollSchedule },
): Promise<PollOutcome> {
  const schedule = deps.schedule ?? pollSchedule();
  const record = await deps.state.getExport(message.exportKey);
  if (!record) {
    throw Object.assign(new Error(`export ${message.exportKey} is not registered`), { retryable: false });
  }
  const exportsApi = exportJobOf(spec, record);
  if (record.exportId !== message.exportId) {
    // A rerun replaced a failed export under the same key: this poll belongs to the old one.
    ctx.log.warn('poll for a replaced export, dropped', { exportKey: record.key, polled: message.exportId });
    return 'replaced';
  }

  /** Records the outcome in this poll's run: a rerun that reused the export learns it failed too. */
  const recordInRun = async (state: 'FAILED' | 'EXPIRED', code: string, text: string) => {
    await deps.state.addFailure(
      message.runId,
      {
        at: ctx.now().toISOString(),
        connection: message.connection,
        messageType: 'poll',
        reason: `${code}: ${text}`,
      },
      `${record.key}#${state}#${message.runId}`,
    );
    ctx.count('failures');
  };
  if (record.state === 'FAILED' || record.state === 'EXPIRED') {
    await recordInRun(
      record.state,
      record.error?.code ?? record.state,
      record.error?.message ?? 'export did not finish',
    );
    return record.state === 'FAILED' ? 'failed' : 'expired';
  }

  const failRun = async (state: 'FAILED' | 'EXPIRED', code: string, text: string) => {
    await deps.state.updateExport(record.key, { state, error: { code, message: text } });
    await recordInRun(state, code, text);
    ctx.count('exportsFailed');
    ctx.log.error('export did not finish', { exportKey: record.key, exportId: record.exportId, code, state });
  };

  const now = ctx.now();
  if (record.state !== 'DONE' && now.getTime() > Date.parse(record.deadline)) {
    await failRun('EXPIRED', 'DEADLINE', `export ${record.exportId} not done by ${record.deadline}`);
    return 'expired';
  }

  let documentIds: string[];
  if (record.state === 'DONE') {
    documentIds = (record.details?.documentIds as string[] | undefined) ?? [];
  } else {
    const check = await exportsApi.check(message, ctx);
    await deps.state.countAttempt(record.key);
    if (check.state === 'PENDING') {
      const delaySeconds = nextPollDelay(schedule, message.attempt + 1, now, new Date(record.deadline));
      await ctx.queue.send({ ...message, attempt: message.attempt + 1 }, { delaySeconds });
      ctx.log.info('export pending', {
        exportId: record.exportId,
        attempt: message.attempt + 1,
        delaySeconds,
      });
      return 'pending';
    }
    if (check.state === 'FAILED') {
      await failRun('FAILED', check.code, check.message);
      return 'failed';
    }
    documentIds = check.documentIds;
    await deps.state.updateExport(record.key, {
      state: 'DONE',
      details: { ...(record.details ?? {}), ...(check.details ?? {}), documentIds },
    });
  }

  for (const documentId of documentIds) {
    if (record.copied[documentId]) continue;
    const stored = await copyWithFreshUrl(message, documentId, ctx, exportsApi.open);
    await deps.state.recordCopy(record.key, documentId, stored);
  }
  ctx.log.info('export copied', { exportId: record.exportId, documents: documentIds.length });
  return 'done';
}

/** The export job that made a record (records from before jobs were named belong to the provider's only one). */
export function exportJobOf(spec: ProviderSpec, record: ExportRecord): ExportJob {
  const jobs = spec.jobs.filter((j): j is ExportJob => j.kind === 'export');
  const named = record.details?.job;
  const job =
    typeof named === 'string' ? jobs.find((j) => j.name === named) : jobs.length === 1 ? jobs[0] : undefined;
  if (!job) {
    throw Object.assign(
      new Error(
        `provider ${spec.id} has no export job for ${record.key}${typeof named === 'string' ? ` (${named})` : ''}`,
      ),
      {
        retryable: false,
      },
    );
  }
  return job;
}

async function copyWithFreshUrl(
  message: PollMessage,
  documentId: string,
  ctx: ProviderContext,
  open: ExportJob['open'],
): Promise<{ key: string; sha256: string; bytes: number }> {
  return withUrlRenewal(
    URL_RENEWALS,
    // Each try's counts stand only if it lands: a try cut short may have stored some of what the next
    // one finds stored and counts (SP-API's XMLs out of a ZIP).
    async () => {
      const { value, keep } = await tallied(ctx, () => copyOnce(message, documentId, ctx, open));
      keep();
      return value;
    },
    ctx.log,
    { documentId },
  );
}

async function copyOnce(
  message: PollMessage,
  documentId: string,
  ctx: ProviderContext,
  open: ExportJob['open'],
): Promise<{ key: string; sha256: string; bytes: number }> {
  const doc = await open(message, documentId, ctx);
  const stored = await ctx.sink.putStream(doc.key, doc.response.stream, {
    sourceOperation: doc.operation,
    runId: message.runId,
    fetchedAt: ctx.now().toISOString(),
    ...(doc.response.contentType ? { contentType: doc.response.contentType } : {}),
    ...(doc.response.contentLength !== undefined ? { expectedBytes: doc.response.contentLength } : {}),
    ...(doc.onChunk ? { onChunk: doc.onChunk } : {}),
  });
  ctx.count(doc.counter);
  const extra = await doc.after?.(stored);
  return { ...stored, ...(extra ? { details: extra } : {}) };
}
