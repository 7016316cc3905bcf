import { createHash, randomUUID } from 'node:crypto';
import * as z from 'zod';
import { functionForRun, runJobsOf } from '../aws/resources.ts';
import type { RunKeyRecord, RunLedger } from '../aws/run-ledger.ts';
import type { DynamoStateStore, RunRequest } from '../aws/state-store.ts';
import { type Config, type Connection, providerIdSchema } from '../config/schema.ts';
import { isCalendarDate } from '../invoice/model.ts';
import { type RunMessage, runMessageSchema } from '../jobs/messages.ts';
import type { JobQueue } from '../providers/types.ts';

const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD')
  .refine(isCalendarDate, 'not a calendar date');

/**
 * The largest POST /runs body (bytes). A request is a handful of short fields; API Gateway would pass up
 * to 10 MB, so the handler refuses more than this itself, on AWS and locally alike.
 */
export const RUN_REQUEST_MAX_BYTES = 16 * 1024;

/** Longest text a request field may hold; the API's request model says the same. */
export const RUN_REQUEST_MAX_FIELD = 200;

/** What POST /runs (and `npm start`) may ask for. */
export const runRequestSchema = z
  .object({
    provider: providerIdSchema,
    connection: z.string().min(1).max(RUN_REQUEST_MAX_FIELD).optional(),
    from: isoDate.optional(),
    to: isoDate.optional(),
    invoiceId: z.string().min(1).max(RUN_REQUEST_MAX_FIELD).optional(),
    job: z.string().min(1).max(RUN_REQUEST_MAX_FIELD).optional(),
    /** Re-read every invoice of the window, unchanged ones too (an audit). */
    full: z.boolean().optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const jobs = runJobsOf(r.provider).map((f) => f.job);
    if (r.job !== undefined && !jobs.includes(r.job)) {
      const named = jobs.map((j) => j ?? '(default)').join(', ');
      ctx.addIssue({
        code: 'custom',
        path: ['job'],
        message: `${r.provider} has no job "${r.job}" (jobs: ${named})`,
      });
    }
    if (r.to && !r.from)
      ctx.addIssue({ code: 'custom', path: ['from'], message: 'from is required when to is given' });
    if (r.from && r.to && r.from > r.to)
      ctx.addIssue({ code: 'custom', path: ['from'], message: 'from is after to' });
  });
export type RunRequestInput = z.infer<typeof runRequestSchema>;

export class RunRequestError extends Error {
  override name = 'RunRequestError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** Validates a request against the schema and the config; the error names the field. */
export function resolveRunRequest(
  raw: unknown,
  config: Config,
  today = new Date(),
): {
  request: RunRequestInput;
  connections: Connection[];
  window?: { from: string; to: string };
} {
  const parsed = runRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length ? issue.path.join('.') : '(body)';
    throw new RunRequestError(field, `${field}: ${issue.message}`);
  }
  const request = parsed.data;
  // A function that only validates and logs would settle the run SUCCEEDED having fetched nothing.
  if (!functionForRun(request.provider, request.job).implemented) {
    throw new RunRequestError('provider', `provider: ${request.provider} is not implemented yet`);
  }
  let connections = config.connections.filter((c) => c.provider === request.provider && c.enabled);
  if (request.connection) {
    const c = config.connections.find((x) => x.id === request.connection);
    if (!c) throw new RunRequestError('connection', `connection: unknown connection "${request.connection}"`);
    if (c.provider !== request.provider) {
      throw new RunRequestError(
        'connection',
        `connection: "${c.id}" is a ${c.provider} connection, not ${request.provider}`,
      );
    }
    connections = [c];
  }
  if (!connections.length) {
    throw new RunRequestError('provider', `provider: no enabled connection for ${request.provider}`);
  }
  const todayDate = today.toISOString().slice(0, 10);
  if (request.from && request.from > todayDate) {
    throw new RunRequestError('from', `from: ${request.from} is in the future`);
  }
  const window = request.from ? { from: request.from, to: request.to ?? todayDate } : undefined;
  return { request, connections, ...(window ? { window } : {}) };
}

/** Registers the run and enqueues one `run` message per connection; returns the run id. */
export async function startRun(
  resolved: ReturnType<typeof resolveRunRequest>,
  deps: { state: DynamoStateStore; queue: JobQueue; source: RunRequest['source']; runId?: string },
): Promise<{ runId: string; messages: RunMessage[] }> {
  const runId = deps.runId ?? randomUUID();
  const { request, connections, window } = resolved;
  // Every message is checked before the run is recorded: a request that cannot be sent leaves no run behind.
  const messages: RunMessage[] = connections.map((c) =>
    runMessageSchema.parse({
      v: 1,
      type: 'run',
      runId,
      provider: c.provider,
      connection: c.id,
      ...(window ? { window } : {}),
      ...(request.invoiceId ? { invoiceId: request.invoiceId } : {}),
      ...(request.job ? { job: request.job } : {}),
      ...(request.full ? { full: true } : {}),
    }),
  );
  await deps.state.ensureRun(
    runId,
    {
      provider: request.provider,
      connections: connections.map((c) => c.id),
      ...(window ? { window } : {}),
      ...(request.invoiceId ? { invoiceId: request.invoiceId } : {}),
      ...(request.full ? { full: true } : {}),
      source: deps.source,
    },
    0,
  );
  await deps.queue.sendBatch(messages);
  return { runId, messages };
}

/**
 * A POST /runs Idempotency-Key that cannot be honoured: `conflict` (409) while the request that holds it
 * is still starting its run, `mismatch` (422) when it was used for a different request.
 */
export class IdempotencyKeyError extends Error {
  override name = 'IdempotencyKeyError';
  constructor(
    readonly reason: 'conflict' | 'mismatch',
    message: string,
  ) {
    super(message);
  }
}

/** Idempotency-Key values: 1 to 255 visible ASCII characters (no spaces or controls). */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * A claim older than this belongs to a request that died before it started its run (runs-api times out
 * after 15 s), so a retry may take it over.
 */
export const RUN_KEY_STALE_MS = 60_000;

/** The same request gives the same fingerprint whatever the order of its fields. */
export function requestFingerprint(request: RunRequestInput): string {
  const sorted = Object.fromEntries(Object.entries(request).sort(([a], [b]) => (a < b ? -1 : 1)));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}

/**
 * startRun under an Idempotency-Key: the first request with the key starts the run; a retry of it gets
 * the same run id and connections (`replayed`) and starts nothing. A retry that finds the first request's
 * claim abandoned (it died between claiming and sending) finishes starting that same run; if the first
 * one had sent some messages, they are sent again, which the functions absorb (deterministic keys,
 * the export registry).
 */
export async function startRunOnce(
  resolved: ReturnType<typeof resolveRunRequest>,
  deps: {
    state: DynamoStateStore;
    queue: JobQueue;
    source: RunRequest['source'];
    keys: Pick<RunLedger, 'claimRunKey' | 'getRunKey' | 'takeOverRunKey' | 'completeRunKey'>;
    now?: () => Date;
  },
  key: string,
): Promise<{ runId: string; connections: string[]; replayed: boolean }> {
  const fingerprint = requestFingerprint(resolved.request);
  let runId: string = randomUUID();
  if (!(await deps.keys.claimRunKey(key, { runId, fingerprint }))) {
    const held = await deps.keys.getRunKey(key);
    if (!held) return startRunOnce(resolved, deps, key); // expired between the claim and the read
    if (held.fingerprint !== fingerprint) {
      throw new IdempotencyKeyError('mismatch', 'Idempotency-Key was already used for a different request');
    }
    if (held.state === 'STARTED') {
      return { runId: held.runId, connections: held.connections ?? [], replayed: true };
    }
    if (!(abandoned(held, deps.now?.() ?? new Date()) && (await deps.keys.takeOverRunKey(key, held)))) {
      throw new IdempotencyKeyError(
        'conflict',
        'a request with this Idempotency-Key is still starting its run; retry in a moment',
      );
    }
    runId = held.runId;
  }
  const { messages } = await startRun(resolved, { ...deps, runId });
  const connections = messages.map((m) => m.connection);
  await deps.keys.completeRunKey(key, connections);
  return { runId, connections, replayed: false };
}

function abandoned(held: RunKeyRecord, now: Date): boolean {
  return now.getTime() - Date.parse(held.claimedAt) > RUN_KEY_STALE_MS;
}
