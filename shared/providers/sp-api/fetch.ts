import { rawPayloadKey } from '../../aws/keys.ts';
import { DeferError, type DeferReason, PayloadError, ProviderError } from '../../http/errors.ts';
import type { FetchMessage, JobMessageInput } from '../../jobs/messages.ts';
import { type DeferLike, isDefer } from '../../runtime/errors.ts';
import type { ProviderContext } from '../types.ts';
import { getInvoice, getInvoices, OPERATIONS } from './api.ts';
import { invoiceFilters } from './filters.ts';
import { currentRate, isThrottled, noteRate, type SpApiConnection, send, throttledDefer } from './http.ts';
import { InvoiceBatch } from './invoice-batch.ts';
import { invoiceResponseSchema, invoicesPageSchema } from './schemas.ts';
import { type DateBounds, windowBounds } from './window.ts';

/** Normalized lines held before a merge: bounds memory on long listings. */
const FLUSH_EVERY = 2_000;

/**
 * Share of getInvoices' burst a throttled listing waits to earn back before it runs again: each
 * continuation then fetches many pages in one go instead of one page per queue round trip, and the
 * queue's whole-second delays are absorbed by the tokens still accruing (the bucket is not yet full).
 */
const REFILL_SHARE = 0.75;

export function boundsOf(message: FetchMessage, now: Date): DateBounds {
  const s = message.state as Partial<DateBounds> | undefined;
  if (typeof s?.dateStart === 'string' && typeof s?.dateEnd === 'string') {
    return { dateStart: s.dateStart, dateEnd: s.dateEnd };
  }
  return windowBounds(message.window, now);
}

/** The rest of a listing as a message: same window and arguments, the page cursor where it stopped. */
function continuation(
  message: FetchMessage,
  bounds: DateBounds,
  cursor: string | undefined,
): JobMessageInput {
  const { notBefore: _drop, cursor: _old, ...rest } = message;
  return {
    ...rest,
    ...(cursor ? { cursor } : {}),
    state: { ...(message.state ?? {}), ...bounds },
    continuation: message.continuation + 1,
  };
}

/** A throttled listing comes back once most of the burst has been earned back (see REFILL_SHARE). */
function deferListing(err: DeferLike, connection: string, next: JobMessageInput): DeferError {
  const reason = err.reason as DeferReason;
  const operation = (err as { operation?: string }).operation ?? 'getInvoices';
  let retryAt = err.retryAt.getTime();
  if (reason === 'throttled' && operation === 'getInvoices') {
    const extraTokens = Math.max(0, Math.floor(OPERATIONS.getInvoices.burst * REFILL_SHARE) - 1);
    retryAt += (extraTokens / currentRate(connection, 'getInvoices')) * 1000;
  }
  return new DeferError(operation, new Date(retryAt), reason, next);
}

/**
 * One marketplace's listing over the window: pages of getInvoices with explicit dateStart/dateEnd,
 * the connection's filters and pageSize, nextToken sent with the same arguments. Empty pages that carry
 * a nextToken are followed; only a page without one ends the listing (and moves the watermark).
 */
export async function fetchListing(
  message: FetchMessage,
  ctx: ProviderContext<SpApiConnection>,
): Promise<void> {
  const conn = ctx.connection;
  const marketplaceId = message.scope;
  const bounds = boundsOf(message, ctx.now());
  const base = {
    marketplaceId,
    ...bounds,
    pageSize: conn.pageSize,
    ...invoiceFilters(conn),
  };
  const batch = new InvoiceBatch(ctx as ProviderContext, marketplaceId, 'getInvoices');
  let cursor = message.cursor;
  for (;;) {
    let page: Awaited<ReturnType<typeof send<{ invoices?: unknown[]; nextToken?: string }>>>;
    try {
      page = await send(
        ctx.http,
        getInvoices({ ...base, ...(cursor ? { nextToken: cursor } : {}) }),
        invoicesPageSchema,
      );
    } catch (err) {
      if (isDefer(err)) {
        await batch.flush();
        throw deferListing(err, conn.id, continuation(message, bounds, cursor));
      }
      if (isThrottled(err)) {
        // Still throttled after the client's retries: another container (or app) is using the seller's
        // bucket. The queue retries later from this page; failing would drop the listing in the DLQ.
        await batch.flush();
        throw throttledDefer(err, ctx.now(), continuation(message, bounds, cursor));
      }
      if (err instanceof PayloadError) {
        // The page itself does not fit: keep what came, so nothing is lost, then stop on the error.
        await keepRawPage(ctx, marketplaceId, cursor, err);
        await batch.flush();
      }
      throw err;
    }
    noteRate(conn.id, 'getInvoices', page.headers);
    await batch.add(page.data.invoices ?? []);
    const next = page.data.nextToken;
    if (!next) {
      await batch.flush();
      await ctx.state.setWatermark('sp-api', conn.id, marketplaceId, message.window.to);
      ctx.log.info('listing done', {
        marketplaceId,
        window: message.window,
        continuation: message.continuation,
      });
      return;
    }
    if (next === cursor) {
      await batch.flush();
      throw new PayloadError(
        'getInvoices',
        page.rawBody,
        'nextToken repeats the token just sent: the listing would loop',
      );
    }
    cursor = next;
    if (batch.size >= FLUSH_EVERY) await batch.flush();
  }
}

async function keepRawPage(
  ctx: ProviderContext<SpApiConnection>,
  marketplaceId: string,
  cursor: string | undefined,
  err: PayloadError,
): Promise<void> {
  const name = `unfit-page-${ctx.runId}-${cursor ? cursor.slice(0, 40) : 'first'}`;
  const key = rawPayloadKey('sp-api', ctx.connection.id, marketplaceId, name);
  await ctx.sink.putJson(
    key,
    { rawBody: err.rawBody, issues: err.issues },
    {
      sourceOperation: 'getInvoices',
      runId: ctx.runId,
      fetchedAt: ctx.now().toISOString(),
    },
  );
  ctx.reportProblem({ code: 'PAGE_DOES_NOT_FIT', message: err.message, key });
}

/** One invoice by id (getInvoice), raw and normalized, in the first marketplace that knows it. */
export async function fetchOne(
  invoiceId: string,
  marketplaces: readonly string[],
  ctx: ProviderContext<SpApiConnection>,
): Promise<void> {
  let lastMissing: ProviderError | undefined;
  for (const marketplaceId of marketplaces) {
    let answer: Awaited<ReturnType<typeof send<{ invoice: unknown }>>>;
    try {
      answer = await send(ctx.http, getInvoice({ invoiceId, marketplaceId }), invoiceResponseSchema);
    } catch (err) {
      if (err instanceof ProviderError && err.status === 404) {
        lastMissing = err;
        continue;
      }
      throw err;
    }
    const batch = new InvoiceBatch(ctx as ProviderContext, marketplaceId, 'getInvoice');
    await batch.add([answer.data.invoice]);
    await batch.flush();
    return;
  }
  throw lastMissing ?? new Error(`invoice ${invoiceId}: no marketplace to look in`);
}
