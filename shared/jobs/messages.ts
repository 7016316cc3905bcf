import * as z from 'zod';
import { providerIdSchema } from '../config/schema.ts';

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD');
const isoDateTime = z.iso.datetime({ offset: true });

/** Inclusive date window, YYYY-MM-DD. */
export const windowSchema = z
  .object({ from: isoDate, to: isoDate })
  .strict()
  .refine((w) => w.from <= w.to, { message: 'window.from is after window.to', path: ['from'] });
export type Window = z.infer<typeof windowSchema>;

const base = {
  v: z.literal(1),
  runId: z.string().min(1).max(100),
  provider: providerIdSchema,
  connection: z.string().min(1),
  /** Set when a wait longer than SQS's 900 s cap is chained: the frame re-enqueues until then. */
  notBefore: isoDateTime.optional(),
  /** When the work this message carries on began (set at fan-out, kept by continuations): the loop guard's age. */
  startedAt: isoDateTime.optional(),
  /** How many times this work was handed back to the queue: progress, and the loop guard's count. */
  continuation: z.number().int().min(0).default(0),
  /** Re-read everything, even invoices unchanged since they last landed in a final status (audits). */
  full: z.boolean().optional(),
};

/** Start of a run for one connection: the function discovers scopes and fans out. */
export const runMessageSchema = z
  .object({
    ...base,
    type: z.literal('run'),
    /** Absent: the connection's watermark less its lookback, up to today. */
    window: windowSchema.optional(),
    /** Restrict to these scopes instead of the connection's own. */
    scopes: z.array(z.string().min(1)).optional(),
    /** Fetch just this invoice (where the provider has a get-one operation). */
    invoiceId: z.string().min(1).optional(),
    /** Which job of the provider this run is for, when a provider has more than one (e.g. billing-statements). */
    job: z.string().min(1).optional(),
  })
  .strict();

/** One scope's fetch over a window; a continuation carries the cursor (and provider-specific step state). */
export const fetchMessageSchema = z
  .object({
    ...base,
    type: z.literal('fetch'),
    scope: z.string().min(1),
    window: windowSchema,
    job: z.string().min(1).optional(),
    cursor: z.string().min(1).optional(),
    /** Engine-owned continuation state (small; SQS caps a message at 256 KiB). */
    state: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/** Follows an export registered in the state table until it is done, failed, or past its deadline. */
export const pollMessageSchema = z
  .object({
    ...base,
    type: z.literal('poll'),
    scope: z.string().min(1),
    /** The export registry key (see shared/aws/state-store). */
    exportKey: z.string().min(1),
    /** The provider's id for the export. */
    exportId: z.string().min(1),
    createdAt: isoDateTime,
    deadline: isoDateTime,
    attempt: z.number().int().min(0),
  })
  .strict();

/**
 * Control totals for one connection of a run, sent once all its other messages are done (the run ledger
 * sends it, shared/aws/run-ledger.ts): the provider's main function checks what landed against the
 * provider's other views of the same money (shared/engine/reconcile-connection.ts).
 */
export const reconcileMessageSchema = z
  .object({
    ...base,
    type: z.literal('reconcile'),
  })
  .strict();

export const jobMessageSchema = z.discriminatedUnion('type', [
  runMessageSchema,
  fetchMessageSchema,
  pollMessageSchema,
  reconcileMessageSchema,
]);

export type RunMessage = z.infer<typeof runMessageSchema>;
export type FetchMessage = z.infer<typeof fetchMessageSchema>;
export type PollMessage = z.infer<typeof pollMessageSchema>;
export type ReconcileMessage = z.infer<typeof reconcileMessageSchema>;
export type JobMessage = z.infer<typeof jobMessageSchema>;
export type JobMessageInput = z.input<typeof jobMessageSchema>;

export class InvalidMessageError extends Error {
  override name = 'InvalidMessageError';
}

/** Parses a queue body; the error names each bad field so the DLQ reason is actionable. */
export function parseJobMessage(body: string): JobMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    throw new InvalidMessageError(`message body is not JSON: ${(err as Error).message}`);
  }
  const result = jobMessageSchema.safeParse(raw);
  if (!result.success) {
    const detail = result.error.issues
      .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
      .join('; ');
    throw new InvalidMessageError(`invalid message: ${detail}`);
  }
  return result.data;
}
