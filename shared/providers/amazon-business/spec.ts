import * as z from 'zod';
import { lwaSecretSchema } from '../../auth/secret-schemas.ts';
import { describeIssues } from '../../engine/issues.ts';
import type { ListingJob, ListingPage, PageRequest, ProviderSpec } from '../../engine/provider-spec.ts';
import { rawOf } from '../../engine/provider-spec.ts';
import { rawItems } from '../../engine/raw-items.ts';
import { MIN_BUDGET_MS } from '../../engine/run-listing.ts';
import { DOWNLOAD_HOSTS } from '../../http/allowlist.ts';
import { DeferError, PayloadError } from '../../http/errors.ts';
import { toIsoDate } from '../../invoice/model.ts';
import {
  BASE,
  BUSINESS_HOSTS,
  BUSINESS_OPERATIONS,
  type BusinessConnection,
  businessRegion,
  MAX_PER_CALL,
  OP,
  paymentAnswerSchema,
  transactionsQuery,
} from './api.ts';
import { type BusinessInvoice, consolidatedOf, readDetails } from './assemble.ts';
import { invoiceGaps } from './invoice-gaps.ts';
import { decodeCursor, encodeCursor, type ListingCursor } from './listing-cursor.ts';
import { ListingPages, listingPageKey } from './listing-pages.ts';
import { type BusinessNormalized, normalizeInvoice } from './normalize.ts';
import { reportUnresolved } from './report-unresolved.ts';
import { parseTransactionsPage } from './transactions.ts';

export type { BusinessConnection } from './api.ts';

/** The one scope of a connection: its token's Amazon Business customer (scopes: ["default"]). */
export const DEFAULT_SCOPE = 'default';

const JOB = 'invoices';

/** Invoices landed at once within a page (raw PUTs in flight). */
const CONCURRENCY = 8;

type Req = PageRequest<BusinessConnection>;

const phaseOperation: Record<ListingCursor['phase'], string> = {
  transactions: OP.transactions,
  details: OP.details,
  payments: OP.payments,
};

async function transactionsPage(req: Req, at: { n: number; token?: string }, pages: ListingPages) {
  const res = await req.ctx.http.request(OP.transactions, {
    path: `${BASE}/transactions`,
    query: transactionsQuery(req.window, at.token),
  });
  const page = parseTransactionsPage(res.rawBody);
  pages.remember(at.n, res.rawBody);
  let next: string | null;
  if (page.nextPageToken) {
    if (page.nextPageToken === at.token) {
      throw new PayloadError(OP.transactions, res.rawBody, 'the nextPageToken repeats the one just sent');
    }
    next = encodeCursor({ phase: 'transactions', n: at.n + 1, token: page.nextPageToken });
  } else {
    const t = at.n + 1;
    const ledger = await pages.ledger(t);
    if (ledger.lineItems.length > 0) next = encodeCursor({ phase: 'details', t, j: 0 });
    else {
      reportUnresolved(req.ctx, req.scope, ledger, undefined, req.window);
      next = null;
    }
  }
  return { raw: rawOf(res, OP.transactions), items: [], next };
}

async function detailsPage(req: Req, at: { t: number; j: number }, pages: ListingPages) {
  const ledger = await pages.ledger(at.t);
  const d = Math.ceil(ledger.lineItems.length / MAX_PER_CALL);
  const batch = ledger.lineItems.slice(at.j * MAX_PER_CALL, (at.j + 1) * MAX_PER_CALL);
  if (batch.length === 0)
    throw new Error(`amazon-business: details page ${at.j} is past the window's line items`);
  const res = await req.ctx.http.request(OP.details, {
    method: 'POST',
    path: `${BASE}/invoices`,
    json: { orderLineItems: batch },
  });
  readDetails([res.rawBody]);
  pages.remember(at.t + at.j, res.rawBody);
  let next: string | null = null;
  if (at.j + 1 < d) next = encodeCursor({ phase: 'details', t: at.t, j: at.j + 1 });
  else {
    // Every answer is in: the window's invoices are known, once, whatever continuations come after.
    const assembly = await pages.assembly(at.t, d);
    reportUnresolved(
      req.ctx,
      req.scope,
      ledger,
      assembly,
      req.window,
      listingPageKey(req.ctx, req.scope, JOB, req.window, at.t),
    );
    if (assembly.invoices.length > 0) next = encodeCursor({ phase: 'payments', t: at.t, d, k: 0 });
  }
  return { raw: rawOf(res, OP.details), items: [], next };
}

/** An invoice's raw file: the provider's own bytes of its detail, its transactions and its payment result. */
function invoiceBytes(inv: BusinessInvoice): string {
  return `{"invoiceNumber":${JSON.stringify(inv.invoiceNumber)},"invoiceDetail":${inv.detailBytes},"transactions":[${inv.transactions
    .map((t) => t.bytes)
    .join(',')}],"paymentDetails":${inv.payment?.bytes ?? 'null'}}`;
}

async function paymentsPage(req: Req, at: { t: number; d: number; k: number }, pages: ListingPages) {
  const { invoices } = await pages.assembly(at.t, at.d);
  const batch = invoices.slice(at.k * MAX_PER_CALL, (at.k + 1) * MAX_PER_CALL);
  if (batch.length === 0)
    throw new Error(`amazon-business: payments page ${at.k} is past the window's invoices`);
  const res = await req.ctx.http.request(OP.payments, {
    method: 'POST',
    path: `${BASE}/invoices/batch/paymentDetails`,
    json: { invoiceIds: batch.map((i) => i.invoiceNumber) },
  });
  const parsed = paymentAnswerSchema.safeParse(res.data);
  if (!parsed.success) throw new PayloadError(OP.payments, res.rawBody, describeIssues(parsed.error));
  const bytes = rawItems(res.rawBody, ['invoicePaymentDetailsResults']);
  // Results are matched on invoiceId; an invoice without one is recorded on the invoice (normalize).
  const byId = new Map(
    parsed.data.invoicePaymentDetailsResults.map((result, i) => [
      result.invoiceId,
      { result, bytes: bytes?.[i] ?? JSON.stringify(result) },
    ]),
  );
  const items = batch.map((inv) => ({ ...inv, payment: byId.get(inv.invoiceNumber) }));
  const more = (at.k + 1) * MAX_PER_CALL < invoices.length;
  return {
    raw: rawOf(res, OP.payments),
    items,
    itemBytes: items.map(invoiceBytes),
    next: more ? encodeCursor({ ...at, phase: 'payments', k: at.k + 1 }) : null,
  };
}

/**
 * One invoice per invoice number, from three operations that each see a part of it: the window's
 * transactions (amounts, by line item), the line items' invoice details (number, date, type,
 * consolidation; JP's own totals) and the invoices' payment details. An invoice covers many line items,
 * which may sit on different transaction pages and different details calls, and a line item can have an
 * invoice and a credit memo; so an invoice can only be put together once the whole window has been read.
 * The listing therefore runs in phases (listing-cursor.ts): every transaction page, then every details
 * call, each stored raw by the engine as a page; then the invoices, assembled from those stored answers
 * only, sorted, and handed to the engine 25 a page with their payment details call. Assembling from what
 * is stored (never from a fresh call) gives the same list in every continuation, so the engine's place in
 * a page is valid after any hand-over, each invoice is on exactly one page, and its sums are made once
 * from all its line items: nothing is added to an earlier partial sum (which reruns and continuations
 * would count twice).
 */
const invoices: ListingJob<BusinessConnection, BusinessInvoice> = {
  kind: 'listing',
  name: JOB,
  concurrency: CONCURRENCY,
  async page(req): Promise<ListingPage> {
    const at = decodeCursor(req.cursor);
    if (req.ctx.budget.remainingMs() < MIN_BUDGET_MS) {
      throw new DeferError(phaseOperation[at.phase], new Date(), 'budget');
    }
    const pages = new ListingPages(req.ctx, req.scope, JOB, req.window);
    if (at.phase === 'transactions') return transactionsPage(req, at, pages);
    if (at.phase === 'details') return detailsPage(req, at, pages);
    return paymentsPage(req, at, pages);
  },
  item: {
    schema: z.custom<BusinessInvoice>(
      (v) => typeof (v as BusinessInvoice | null)?.invoiceNumber === 'string',
      'not an assembled invoice',
    ),
    id: (inv) => inv.invoiceNumber,
    issuedOn: (inv) => toIsoDate(inv.detail.invoiceDate ?? '', 'invoiceDate'),
    // Paid and closed, its consolidated number known: nothing left to change. The transactions, details and
    // payments calls are made for the window anyway (an invoice is assembled from all three), so what a
    // skip saves here is the invoice's raw and normalized writes.
    isFinal: (inv) => {
      const result = inv.payment?.result;
      const closed = result?.resultType === 'SUCCESS' && result.paymentDetails?.status === 'Closed';
      return closed && !consolidatedOf(inv.detail).pending;
    },
  },
  normalize: (inv, _enrichment, at) =>
    normalizeInvoice({
      connection: at.ctx.connection.id,
      scope: at.scope,
      invoice: inv,
      rawKey: at.rawKey,
      fetchedAt: at.fetchedAt,
    }),
  check: (inv, _enrichment, line) => invoiceGaps(inv, line as BusinessNormalized),
};

/** Amazon Business Reconciliation 2021-01-08: transactions -> line items' invoice details -> payment details. */
export const amazonBusinessSpec: ProviderSpec<BusinessConnection> = {
  id: 'amazon-business',
  client: {
    baseUrl: (c) => BUSINESS_HOSTS[businessRegion(c.region)],
    auth: 'lwa-x-amz-access-token',
    // Amazon Business tokens come from api.amazon.com in every region (PROVIDER-NOTES "Auth").
    lwaRegion: () => 'NA',
    operations: BUSINESS_OPERATIONS,
    downloadHosts: DOWNLOAD_HOSTS['amazon-business'],
  },
  secret: lwaSecretSchema,
  discoverScopes: async () => [DEFAULT_SCOPE],
  jobs: [invoices],
};
