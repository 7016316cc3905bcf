import { createHash } from 'node:crypto';
import { rawInvoiceKey, rawPayloadKey } from '../aws/keys.ts';
import type { Connection } from '../config/schema.ts';
import { DeferError, PayloadError } from '../http/errors.ts';
import type { InvoiceDocument, NormalizedInvoice } from '../invoice/model.ts';
import { withMinorUnits } from '../invoice/money.ts';
import type { FetchMessage, JobMessageInput } from '../jobs/messages.ts';
import type { ProviderContext } from '../providers/types.ts';
import { handOver } from './hand-over.ts';
import { type InvoiceStore, publishMonths, TableStore } from './invoice-store.ts';
import type { Landed } from './invoice-table.ts';
import { describeIssues } from './issues.ts';
import { type ListingState, listingState } from './listing-state.ts';
import { PendingDocumentTracker } from './pending-document-tracker.ts';
import type { Enrichment, ItemContext, ListingJob, ListingPage, RawAnswer } from './provider-spec.ts';
import { retryPendingDocuments } from './retry-pending-documents.ts';
import { storeInvoiceRaw, storeRaw, storeRawOnce, storeValue } from './store-raw.ts';
import { tallied } from './tallied.ts';

/**
 * Normalized invoices held, after a page, before the store writes them: DynamoDB's full batches (100 pointers
 * read a call, 25 items written), and a small last flush, which the month files wait for.
 */
export const FLUSH_EVERY = 100;

/** Below this much budget no new item is started: the rest goes on in a continuation. */
export const MIN_BUDGET_MS = 5_000;

type Job<C extends Connection> = ListingJob<C, unknown, unknown>;

interface Position {
  cursor: string | undefined;
  page: number;
  skip: number;
  transient: number;
}

/** An item of a page on its way: its place, what it is, and the bytes the provider sent for it. */
interface Entry {
  index: number;
  item: unknown;
  raw: RawAnswer | undefined;
}

function storeFor<C extends Connection>(job: Job<C>, ctx: ProviderContext<C>): TableStore {
  const matchOf = job.publish?.matchOf;
  return new TableStore(ctx.invoices, matchOf ? (source) => matchOf(source) : undefined);
}

/** Publishes the month files of one scope, decorated as the job says. */
async function publish<C extends Connection>(
  job: Job<C>,
  ctx: ProviderContext<C>,
  scope: string,
  months: Iterable<string>,
): Promise<void> {
  const files = [...months]
    .sort()
    .map((month) => ({ provider: ctx.connection.provider, connection: ctx.connection.id, scope, month }));
  const decorate = job.publish?.decorate;
  await publishMonths(
    ctx,
    files,
    { sourceOperation: job.name, runId: ctx.runId, fetchedAt: ctx.now().toISOString() },
    decorate ? (file) => decorate(ctx, file) : undefined,
  );
}

/** How far a call to landItems got, and when it should stop starting items. */
interface Progress {
  /** Asked before each item (and before a batch's enrichment): true stops starting new ones. */
  stop?: () => boolean;
  /**
   * Told once, before landItems returns or throws: the index of the first entry not done, every one before
   * it landed or settled otherwise (kept raw, out of the window, unchanged); past the last entry when all are.
   */
  done?: (next: number) => void;
}

/**
 * Works a set of items of one scope: parse (an unfit item with an id is fetched by that id, else kept raw
 * and reported), window check, enrichment (batched or per item, `concurrency` at a time), raw storage of
 * the provider's bytes, normalization, hand-over to the store, and the invoice's documents settled with
 * the pending ones (`pending`, whose context `ctx` is). After a failure, or once `progress.stop` says so, no
 * new item is started; those in flight finish, then the failure is thrown.
 */
async function landItems<C extends Connection>(
  job: Job<C>,
  ctx: ProviderContext<C>,
  scope: string,
  args: Record<string, unknown>,
  entries: readonly Entry[],
  store: InvoiceStore,
  unfitName: (index: number) => string,
  pending: PendingDocumentTracker<C>,
  window?: { from: string; to: string },
  opts: { skipUnchanged?: boolean } & Progress = {},
): Promise<void> {
  const provider = ctx.connection.provider;
  const end = (entries.at(-1)?.index ?? -1) + 1;
  let parsed: Array<{
    index: number;
    item: unknown;
    raw: RawAnswer | undefined;
    issuedOn: string;
    id: string;
    fingerprint: string;
  }> = [];
  for (const entry of entries) {
    let { item, raw } = entry;
    let fit = job.item.schema.safeParse(item);
    if (!fit.success) {
      const id = job.item.idOfUnfit?.(item);
      const byId = id && job.fetchById ? await job.fetchById(ctx, scope, id) : undefined;
      const again = byId ? job.item.schema.safeParse(byId.item) : undefined;
      if (byId && again?.success) {
        ctx.reportProblem({
          code: 'ITEM_DOES_NOT_FIT',
          message: `${job.name} item ${entry.index} (id ${id}) does not fit the model (${describeIssues(fit.error)}); fetched by its id instead`,
          note: true,
        });
        item = byId.item;
        raw = byId.raw;
        fit = again;
      } else {
        const key = rawPayloadKey(provider, ctx.connection.id, scope, unfitName(entry.index));
        if (raw) await storeRaw(ctx, key, raw);
        else await storeValue(ctx, key, item, job.name);
        ctx.reportProblem({
          code: 'ITEM_DOES_NOT_FIT',
          message: `${job.name} item ${entry.index}${id ? ` (id ${id})` : ''} kept raw, not normalized: ${describeIssues(fit.error)}`,
          key,
        });
        continue;
      }
    }
    const value = fit.data;
    const id = job.item.id(value);
    let issuedOn: string;
    try {
      issuedOn = job.item.issuedOn(value);
    } catch (err) {
      const key = rawPayloadKey(provider, ctx.connection.id, scope, `${job.name}-undated_${id}`);
      if (raw) await storeRaw(ctx, key, raw);
      else await storeValue(ctx, key, item, job.name);
      ctx.reportProblem({
        code: 'ITEM_DOES_NOT_FIT',
        message: `invoice ${id}: ${(err as Error).message}`,
        key,
      });
      continue;
    }
    if (window && job.item.inWindow && !job.item.inWindow(value, window)) continue;
    parsed.push({
      index: entry.index,
      item: value,
      raw,
      issuedOn,
      id,
      fingerprint: fingerprintOf(job, value, raw),
    });
  }
  const isFinal = job.item.isFinal;
  // What each item last landed as: an unchanged final item is skipped; an unchanged open one is worked
  // again, but its raw bytes and documents are written only where they differ or are missing.
  let last = new Map<string, Landed>();
  const kept = new Map<string, InvoiceDocument[]>();
  const unchangedAt: number[] = [];
  // Where a continuation would resume: what is before it is done and counted, what is after is worked again.
  const resumeAt = (index: number) => {
    for (const i of unchangedAt) if (i < index) ctx.count('unchanged');
    opts.done?.(index);
  };
  if (opts.skipUnchanged && parsed.length > 0) {
    const scopeOf = { provider, connection: ctx.connection.id, scope };
    last = await ctx.invoices.landed(
      scopeOf,
      parsed.map((p) => p.id),
    );
    parsed = parsed.filter((p) => {
      const unchanged = last.get(p.id)?.fingerprint === p.fingerprint && isFinal?.(p.item) === true;
      if (unchanged) unchangedAt.push(p.index);
      return !unchanged;
    });
    // The documents of those worked again with their item unchanged, read where the pointer said they are
    // (nothing to read for one that landed with none).
    const same = new Map<string, string>();
    for (const p of parsed) {
      const before = last.get(p.id);
      if (before?.fingerprint !== p.fingerprint || !before.month) continue;
      if (before.documents === 0) kept.set(p.id, []);
      else same.set(p.id, before.month);
    }
    if (same.size > 0)
      for (const [id, docs] of await ctx.invoices.documents(scopeOf, same)) kept.set(id, docs);
  }
  if (parsed.length === 0) {
    resumeAt(end);
    return;
  }

  const at = (rawKey: string, itemCtx: ProviderContext<C> = ctx): ItemContext<C> => ({
    ctx: itemCtx,
    scope,
    args,
    rawKey,
  });
  const keyOf = (p: (typeof parsed)[number]) =>
    rawInvoiceKey(provider, ctx.connection.id, scope, p.issuedOn, p.id);
  let batch: Map<string, Enrichment> | undefined;
  if (job.enrichBatch) {
    // One call enriches the whole batch: the budget is asked once, before it.
    if (opts.stop?.()) {
      resumeAt(parsed[0]!.index);
      return;
    }
    batch = await job.enrichBatch.call(
      parsed.map((p) => p.item),
      { ctx, scope, args },
    );
  }
  /** Lands an item's objects; what it returns puts the invoice in the store, once the item is kept. */
  const land = async (p: (typeof parsed)[number]): Promise<(() => void) | undefined> => {
    const rawKey = keyOf(p);
    // An item whose enrichment reported a problem (a document not copied...) lands without its fingerprint,
    // so the next run works it again even if it is unchanged and final.
    let troubled = false;
    const landedDocs = kept.get(p.id);
    const itemCtx: ProviderContext<C> = {
      ...ctx,
      reportProblem: (problem) => {
        if (!problem.note) troubled = true;
        ctx.reportProblem(problem);
      },
      ...(landedDocs
        ? {
            landedDocument: (key: string) => landedDocs.find((d) => d.key === key),
            landedDocuments: landedDocs,
          }
        : {}),
    };
    const enrichment: Enrichment =
      batch?.get(p.id) ?? (job.enrich ? await job.enrich(p.item, at(rawKey, itemCtx)) : {});
    const raw = enrichment.raw ?? p.raw;
    let stamp: string | undefined;
    if (raw) stamp = await storeInvoiceRaw(ctx, rawKey, raw, last.get(p.id));
    else await storeValue(ctx, rawKey, p.item, job.name);
    let invoice: NormalizedInvoice;
    try {
      invoice = job.normalize(p.item, enrichment, { ...at(rawKey), fetchedAt: ctx.now().toISOString() });
    } catch (err) {
      ctx.reportProblem({
        code: 'NORMALIZE',
        message: `invoice ${p.id}: ${(err as Error).message}`,
        key: rawKey,
      });
      await pending.settle(scope, p.id, p.issuedOn, []);
      return undefined;
    }
    // Control totals of the invoice's own parts; one with gaps is checked again by the next run too.
    const gaps = job.check?.(p.item, enrichment, invoice) ?? [];
    for (const gap of gaps) ctx.reportGap?.(gap);
    if (gaps.length) troubled = true;
    ctx.count('invoices');
    await pending.settle(scope, p.id, p.issuedOn, invoice.documents);
    return () =>
      store.add(
        withCurrencyDigits(invoice),
        p.item,
        { ...(troubled ? {} : { fingerprint: p.fingerprint }), ...(stamp ? { raw: stamp } : {}) },
        last.get(p.id),
      );
  };
  // Items are started in order; after a failure or a stop none is started, those in flight finish. An
  // item's counts are held apart (tallied): the continuation resumes from the first item not done, so one
  // that finished after it, or failed half way (a first document landed, the second kept breaking), is
  // worked again and counted then; counts are kept only for items behind that point, each once. So is its
  // invoice (with its fingerprint): stored, it would make the item worked again look unchanged, and its
  // invoice and documents would not be counted at all.
  const finished = new Array<boolean>(parsed.length).fill(false);
  const keeps: Array<() => void> = [];
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async () => {
    while (!failed && next < parsed.length) {
      if (opts.stop?.()) break;
      const k = next++;
      try {
        const { value: add, keep } = await tallied(ctx, () => land(parsed[k]!));
        keeps[k] = () => {
          add?.();
          keep();
        };
        finished[k] = true;
      } catch (err) {
        if (!failed) failure = err;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(job.concurrency ?? 1, parsed.length) }, worker));
  const undone = finished.indexOf(false);
  for (let k = 0; k < (undone === -1 ? parsed.length : undone); k++) keeps[k]!();
  resumeAt(undone === -1 ? end : parsed[undone]!.index);
  if (failed) throw failure;
}

/**
 * A page whose items differ only in what the spec's fingerprint leaves out (CM360's signed PDF links, new on
 * every call) is the same page: it is not written again, and the stored one keeps the links it had.
 */
function pageSameAs<C extends Connection>(job: Job<C>, page: ListingPage): string | undefined {
  const fingerprint = job.item.fingerprint;
  if (!fingerprint) return undefined;
  const items = page.items.map((item) => {
    try {
      return fingerprint(item);
    } catch {
      return item;
    }
  });
  return createHash('sha256')
    .update(JSON.stringify({ items, next: page.next ?? null }))
    .digest('hex');
}

/** What an item was when it landed: its bytes as sent (or what the spec says tells a change), hashed. */
function fingerprintOf<C extends Connection>(job: Job<C>, item: unknown, raw: RawAnswer | undefined): string {
  const what = job.item.fingerprint
    ? JSON.stringify(job.item.fingerprint(item))
    : (raw?.body ?? JSON.stringify(item));
  return createHash('sha256').update(what).digest('base64url').slice(0, 22);
}

/** The name a listing's page is kept raw under (raw/<provider>/<connection>/<scope>/_payloads/<name>.json). */
export function listingPageName(job: string, window: { from: string; to: string }, page: number): string {
  return `${job}_${window.from}_${window.to}_p${String(page).padStart(4, '0')}`;
}

const MONEY = ['subtotal', 'tax', 'total', 'amountDue', 'remainingDue'] as const;

/** Every amount of an invoice with at least its currency's minor-unit digits (ISO 4217). */
function withCurrencyDigits(invoice: NormalizedInvoice): NormalizedInvoice {
  const out = { ...invoice };
  for (const field of MONEY) {
    const value = out[field];
    if (value !== null) out[field] = withMinorUnits(value, invoice.currency);
  }
  return out;
}

function continuationOf(
  message: FetchMessage,
  state: ListingState,
  at: Position,
  store: InvoiceStore,
): (transient: number, publishing?: readonly string[]) => JobMessageInput {
  return (transient, publishing) => {
    const { notBefore: _n, cursor: _c, state: _s, ...rest } = message;
    const months = publishing ?? [...store.touched].sort();
    return {
      ...rest,
      ...(at.cursor && !publishing ? { cursor: at.cursor } : {}),
      state: {
        ...(state.job ? { job: state.job } : {}),
        args: state.args,
        page: at.page,
        skip: at.skip,
        ...(transient ? { transient } : {}),
        ...(months.length > 0 ? { months } : {}),
        ...(publishing ? { publishing: true } : {}),
      },
      continuation: message.continuation + 1,
    };
  };
}

/**
 * One scope's listing over the window: pages (each kept raw as the provider sent it), the items of each
 * page landed in order, until a page comes without a cursor (an empty page with one goes on). Progress is
 * (cursor of the page, items done in it): when the budget runs low or the provider says wait, that
 * position travels in a continuation, so no page is lost or done twice. After the last page, the scope's
 * documents that earlier runs could not land are tried again, whatever the window (retryPendingDocuments;
 * a hand-over from there comes back to the end of the last page); then the month files the listing
 * changed are published. The watermark moves once all is done.
 */
export async function runListing<C extends Connection>(
  message: FetchMessage,
  job: Job<C>,
  given: ProviderContext<C>,
): Promise<void> {
  // Documents the job cannot land are recorded pending, and cleared once landed (the tracker's context).
  const pending = new PendingDocumentTracker(given);
  const ctx = pending.context;
  const state = listingState(message.state);
  const scope = message.scope;
  const provider = ctx.connection.provider;
  const store = storeFor(job, ctx);
  if (state.invoiceId) {
    await landOne(job, ctx, [scope], state.invoiceId, state.args, pending);
    return;
  }
  for (const month of state.months) store.touched.add(month);
  const at: Position = {
    cursor: message.cursor,
    page: state.page,
    skip: state.skip,
    transient: state.transient,
  };
  const continuation = continuationOf(message, state, at, store);
  const giveBack = async (err: unknown): Promise<never> => {
    await store.flush();
    handOver(err, {
      continuation,
      transient: at.transient,
      throttledWaitMs: job.throttledWaitMs?.(ctx, (err as { operation?: string }).operation ?? ''),
      log: ctx.log,
    });
  };
  const pageName = () =>
    listingPageName(job.name, job.pageWindow?.(message.window) ?? message.window, at.page);
  // A page's items land together (one fingerprint read, `concurrency` in flight throughout), a batched
  // enrichment's a batch at a time.
  const chunk = job.enrichBatch?.size ?? Number.POSITIVE_INFINITY;
  const outOfBudget = () => ctx.budget.remainingMs() < MIN_BUDGET_MS;

  while (!state.publishing) {
    let page: ListingPage;
    try {
      page = await job.page({ ctx, scope, window: message.window, cursor: at.cursor, args: state.args });
    } catch (err) {
      if (err instanceof PayloadError || (err as Error)?.name === 'PayloadError') {
        // The page itself does not fit: what came is kept, so nothing is lost, then the message fails on it.
        const key = rawPayloadKey(provider, ctx.connection.id, scope, `${pageName()}_unfit`);
        await storeRaw(ctx, key, { body: (err as PayloadError).rawBody ?? '', operation: job.name });
        ctx.reportProblem({ code: 'PAGE_DOES_NOT_FIT', message: (err as Error).message, key });
        await store.flush();
        throw err;
      }
      return giveBack(err);
    }
    const pageKey = rawPayloadKey(provider, ctx.connection.id, scope, pageName());
    await (message.full
      ? storeRaw(ctx, pageKey, page.raw)
      : storeRawOnce(ctx, pageKey, page.raw, pageSameAs(job, page)));

    while (at.skip < page.items.length) {
      const end = Math.min(at.skip + chunk, page.items.length);
      const entries: Entry[] = [];
      for (let k = at.skip; k < end; k++) {
        const bytes = page.itemBytes?.[k];
        entries.push({
          index: k,
          item: page.items[k],
          raw: bytes === undefined ? undefined : { ...page.raw, body: bytes },
        });
      }
      try {
        await landItems(
          job,
          ctx,
          scope,
          state.args,
          entries,
          store,
          (k) => `${pageName()}_item${k}`,
          pending,
          message.window,
          { skipUnchanged: !message.full, stop: outOfBudget, done: (k) => (at.skip = k) },
        );
      } catch (err) {
        await giveBack(err);
      }
      if (at.skip < end) {
        await store.flush();
        throw new DeferError(job.name, new Date(), 'budget', continuation(0));
      }
      at.transient = 0;
    }
    // Upserts go in batches: when enough is held, before any hand-over to the queue, and at the end.
    if (!page.next || store.size >= FLUSH_EVERY) await store.flush();
    if (!page.next) {
      // A hand-over from here on (pending documents) comes back past this last page's items.
      at.skip = page.items.length;
      break;
    }
    if (page.next === at.cursor) {
      await store.flush();
      throw new PayloadError(
        job.name,
        page.raw.body,
        'the next cursor repeats the one just sent: the listing would loop',
      );
    }
    at.cursor = page.next;
    at.page += 1;
    at.skip = 0;
  }
  if (!state.publishing) {
    try {
      const retried = await retryPendingDocuments({
        job,
        ctx,
        scope,
        tracker: pending,
        minBudgetMs: MIN_BUDGET_MS,
        // A retry that fails is tried again, by the continuation or a later run, and counted then.
        land: (found, invoiceId) =>
          landItems(
            job,
            ctx,
            scope,
            state.args,
            [{ index: 0, item: found.item, raw: found.raw }],
            store,
            () => `invoice_${invoiceId}`,
            pending,
          ),
      });
      if (retried === 'budget') throw new DeferError(job.name, new Date(), 'budget', continuation(0));
    } catch (err) {
      await giveBack(err);
    }
    // What the retries landed (the listing's own invoices were flushed with its last page).
    if (store.size > 0) await store.flush();
  }
  // Each month file the listing changed is written once, from the table, when every page is done.
  const months = [...store.touched].sort();
  for (let i = 0; i < months.length; i++) {
    if (ctx.budget.remainingMs() < MIN_BUDGET_MS) {
      throw new DeferError(job.name, new Date(), 'budget', continuation(0, months.slice(i)));
    }
    await publish(job, ctx, scope, [months[i]!]);
  }
  await ctx.state.setWatermark(provider, ctx.connection.id, scope, message.window.to);
  ctx.log.info('listing done', { job: job.name, scope, pages: at.page + 1, window: message.window });
}

/**
 * One invoice by id, in the first of the scopes that knows it: landed like an item of a listing. An id no
 * scope knows is an error naming it.
 */
export async function landOne<C extends Connection>(
  job: Job<C>,
  given: ProviderContext<C>,
  scopes: readonly string[],
  invoiceId: string,
  args: Record<string, unknown>,
  pending: PendingDocumentTracker<C> = new PendingDocumentTracker(given),
): Promise<void> {
  const ctx = pending.context;
  if (!job.fetchById) {
    throw Object.assign(new Error(`${ctx.connection.provider} ${job.name} cannot fetch one invoice by id`), {
      name: 'ConfigError',
      retryable: false,
    });
  }
  for (const scope of scopes) {
    const found = await job.fetchById(ctx, scope, invoiceId);
    if (!found) continue;
    const store = storeFor(job, ctx);
    await landItems(
      job,
      ctx,
      scope,
      args,
      [{ index: 0, item: found.item, raw: found.raw }],
      store,
      () => `invoice_${invoiceId}`,
      pending,
    );
    await store.flush();
    await publish(job, ctx, scope, store.touched);
    return;
  }
  throw Object.assign(new Error(`invoice ${invoiceId}: not found in ${scopes.join(', ') || 'any scope'}`), {
    name: 'ProviderError',
    status: 404,
    retryable: false,
  });
}
