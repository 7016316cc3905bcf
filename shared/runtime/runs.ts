import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { runJobsOf } from '../aws/resources.ts';
import type { DynamoStateStore, RunRequest } from '../aws/state-store.ts';
import { type Config, type Connection, providerIdSchema } from '../config/schema.ts';
import { isCalendarDate } from '../invoice/model.ts';
import { type RunMessage, runMessageSchema } from '../jobs/messages.ts';
import type { JobQueue } from '../providers/types.ts';

const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD')
  .refine(isCalendarDate, 'not a calendar date');

/** What POST /runs (and `npm start`) may ask for. */
export const runRequestSchema = z
  .object({
    provider: providerIdSchema,
    connection: z.string().min(1).optional(),
    from: isoDate.optional(),
    to: isoDate.optional(),
    invoiceId: z.string().min(1).max(200).optional(),
    job: z.string().min(1).optional(),
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
    }),
  );
  await deps.state.ensureRun(
    runId,
    {
      provider: request.provider,
      connections: connections.map((c) => c.id),
      ...(window ? { window } : {}),
      ...(request.invoiceId ? { invoiceId: request.invoiceId } : {}),
      source: deps.source,
    },
    0,
  );
  await deps.queue.sendBatch(messages);
  return { runId, messages };
}
