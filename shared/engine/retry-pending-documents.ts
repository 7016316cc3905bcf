import type { Connection } from '../config/schema.ts';
import type { PendingDocument, ProviderContext } from '../providers/types.ts';
import { isDefer } from '../runtime/errors.ts';
import { isThrottled, isTransient } from './hand-over.ts';
import { pendingDocumentMaxAgeDays } from './pending-document-max-age.ts';
import type { PendingDocumentTracker } from './pending-document-tracker.ts';
import type { ListingJob, RawAnswer } from './provider-spec.ts';

const DAY_MS = 86_400_000;

/** Errors that say the connection itself is broken, not this invoice: the message fails on them as the listing would. */
const CONNECTION_ERRORS = new Set(['AuthError', 'ConfigError', 'SecretError']);

export interface PendingRetry<C extends Connection> {
  job: ListingJob<C, unknown, unknown>;
  /** The tracker's context: misses of the retries are recorded, documents landed are cleared. */
  ctx: ProviderContext<C>;
  scope: string;
  tracker: PendingDocumentTracker<C>;
  /** Below this much budget no retry is started (the rest goes on in a continuation). */
  minBudgetMs: number;
  /** Lands an invoice found again through the listing's own path: raw, enrichment (documents), store. */
  land(found: { item: unknown; raw: RawAnswer }, invoiceId: string): Promise<void>;
}

/**
 * The scope's documents that earlier runs could not land, tried again whatever the window: each invoice
 * with pending documents is found again (`refetch`, else `fetchById`) and landed as a listing would land
 * it, so its documents are copied with fresh links and its normalized line gets them. Documents past
 * PENDING_DOCUMENT_MAX_AGE_DAYS are given up, once, with a problem; those this run already tried (its
 * listing missed them again) are not tried twice. Oldest attempt first. Returns 'budget' when the budget
 * ran low with invoices left (the caller hands the rest over); a wait the provider asks for is thrown
 * (handed over the same way); an unavailable provider ends the retries of this run, each document left
 * reported as still pending.
 */
export async function retryPendingDocuments<C extends Connection>(
  r: PendingRetry<C>,
): Promise<'done' | 'budget'> {
  const { job, ctx, scope, tracker } = r;
  const { provider, id: connection } = ctx.connection;
  const records = await ctx.state.listPendingDocuments(provider, connection, scope);
  if (records.length === 0) return 'done';

  const maxAgeDays = pendingDocumentMaxAgeDays();
  const now = ctx.now().getTime();
  const byInvoice = new Map<string, PendingDocument[]>();
  for (const record of records) {
    const ageMs = now - Date.parse(record.firstSeenAt);
    if (ageMs > maxAgeDays * DAY_MS) {
      // Only the run whose delete takes the record says so: a document is given up once.
      if (await ctx.state.deletePendingDocument(record)) {
        ctx.reportProblem({
          code: 'DOCUMENT_GIVEN_UP',
          message: `invoice ${record.invoiceId}: ${record.type} given up after ${Math.floor(ageMs / DAY_MS)} days pending (${record.attempts} attempts since run ${record.firstRunId}; last: ${record.reason})`,
          key: record.key,
        });
      }
      continue;
    }
    // Missed again by this run's listing (already reported), or tried by an earlier invocation of this pass.
    if (record.lastRunId === ctx.runId) continue;
    const list = byInvoice.get(record.invoiceId) ?? [];
    list.push(record);
    byInvoice.set(record.invoiceId, list);
  }
  if (byInvoice.size === 0) return 'done';

  const refetch =
    job.refetch?.bind(job) ??
    (job.fetchById ? (c: ProviderContext<C>, s: string, id: string) => job.fetchById!(c, s, id) : undefined);
  if (!refetch) {
    for (const record of [...byInvoice.values()].flat()) {
      await tracker.stillPending(
        record,
        `${provider} ${job.name} cannot fetch one invoice again; it lands when a run's window includes the invoice`,
        false,
      );
    }
    return 'done';
  }

  ctx.log.info('retrying pending documents', { scope, invoices: byInvoice.size });
  const invoices = [...byInvoice.entries()];
  for (let i = 0; i < invoices.length; i++) {
    const [invoiceId, docs] = invoices[i]!;
    if (ctx.budget.remainingMs() < r.minBudgetMs) return 'budget';
    let found: { item: unknown; raw: RawAnswer } | undefined;
    try {
      found = await refetch(ctx, scope, invoiceId, docs[0]?.issuedOn ? { issuedOn: docs[0].issuedOn } : {});
      if (found) await r.land(found, invoiceId);
    } catch (err) {
      if (isDefer(err) || isThrottled(err) || CONNECTION_ERRORS.has((err as Error)?.name)) throw err;
      const why = `the retry failed: ${(err as Error)?.message ?? String(err)}`;
      for (const record of docs) await tracker.stillPending(record, why);
      if (isTransient(err)) {
        // The provider is unavailable: the rest waits for the next run instead of failing this one.
        for (const [, rest] of invoices.slice(i + 1)) {
          for (const record of rest) {
            await tracker.stillPending(
              record,
              'not tried again in this run: the provider was unavailable',
              false,
            );
          }
        }
        return 'done';
      }
      continue;
    }
    for (const record of docs) {
      // Landed: its record is cleared; missed again: recorded and reported by the tracker.
      if (tracker.outcome(scope, invoiceId, record.name)) continue;
      await tracker.stillPending(
        record,
        found
          ? 'the invoice no longer offers this document'
          : `the provider no longer finds invoice ${invoiceId} in ${scope}`,
      );
    }
  }
  return 'done';
}
