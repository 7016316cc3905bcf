import { Readable } from 'node:stream';
import { normalizedMonthKey, rawInvoiceKey, rawPayloadKey } from '../../aws/keys.ts';
import { DeferError } from '../../http/errors.ts';
import type { NormalizedInvoice } from '../../invoice/model.ts';
import { toIsoDate } from '../../invoice/model.ts';
import type { FetchMessage, JobMessageInput, RunMessage, Window } from '../../jobs/messages.ts';
import { isDefer } from '../../runtime/errors.ts';
import type { HttpResponse, ProviderContext } from '../types.ts';
import {
  describeIssues,
  HEADERS,
  type InvoiceDetail,
  type InvoiceSummary,
  invoiceDetailSchema,
  invoiceListSchema,
  invoiceSummarySchema,
  MEDIA,
  OP,
  profilesSchema,
  unwrapPayload,
} from './api.ts';
import { copyInvoiceDocuments } from './documents.ts';
import { parseExactJson } from './exact-json.ts';
import type { AdsConnection } from './http.ts';
import { normalizeInvoice } from './normalize.ts';
import { defaultWindow } from './window.ts';

type Ctx = ProviderContext<AdsConnection>;

/** First page size (`count`, 1-100; later pages send only the cursor). */
export const PAGE_SIZE = 100;
/** Below this much budget no new invoice is started: the rest goes on in a continuation. */
export const MIN_BUDGET_MS = 5_000;
/** Consecutive continuations after transient failures (5xx, network) before the message fails for real. */
const MAX_TRANSIENT_DEFERS = 5;
const DISCOVERY_SCOPE = '_discovery';
const BILLING_STATEMENTS_JOB = 'billing-statements';

// ---------- run ----------

/** The profiles a run covers: the message's, the connection's explicit list, or the billing profiles. */
async function runScopes(message: RunMessage, ctx: Ctx): Promise<string[]> {
  if (message.scopes?.length) return message.scopes;
  if (ctx.connection.scopes !== 'discover') return ctx.connection.scopes;
  const res = await ctx.http.request(OP.listProfiles, {
    path: '/v2/profiles',
    query: { apiProgram: 'billing' },
  });
  await putRaw(
    ctx,
    rawPayloadKey('amazon-ads', ctx.connection.id, DISCOVERY_SCOPE, 'profiles-billing'),
    res,
    OP.listProfiles,
  );
  const parsed = profilesSchema.safeParse(parseExactJson(res.rawBody));
  if (!parsed.success) {
    throw Object.assign(
      new Error(`listProfiles: the answer does not fit the model: ${describeIssues(parsed.error)}`),
      {
        name: 'PayloadError',
        retryable: false,
      },
    );
  }
  return [...new Set(parsed.data.map((p) => String(p.profileId)))];
}

/**
 * A run: one fetch per billing profile over its window, and, for a connection with a global account, the
 * billing statements run (its own function and queue).
 */
export async function runInvoices(message: RunMessage, ctx: Ctx): Promise<void> {
  const scopes = await runScopes(message, ctx);
  const fetches: JobMessageInput[] = [];
  for (const scope of scopes) {
    const window =
      message.window ??
      defaultWindow(
        ctx.connection,
        await ctx.state.getWatermark('amazon-ads', ctx.connection.id, scope),
        ctx.now(),
      );
    fetches.push({
      v: 1,
      type: 'fetch',
      runId: message.runId,
      provider: 'amazon-ads',
      connection: message.connection,
      scope,
      window,
      ...(message.invoiceId ? { state: { invoiceId: message.invoiceId } } : {}),
    });
  }
  if (fetches.length) await ctx.queue.sendBatch(fetches);
  ctx.log.info('run fanned out', { profiles: scopes.length });
  if (ctx.connection.globalAccountId && !message.invoiceId && !message.job) {
    const { notBefore: _n, ...run } = message;
    await ctx.queue.send({ ...run, job: BILLING_STATEMENTS_JOB });
  }
}

// ---------- fetch ----------

async function putRaw(ctx: Ctx, key: string, res: HttpResponse<unknown>, operation: string) {
  // The body exactly as received: re-serializing parsed JSON would round its amounts through floats.
  return ctx.sink.putStream(key, Readable.from([Buffer.from(res.rawBody, 'utf8')]), {
    sourceOperation: operation,
    runId: ctx.runId,
    fetchedAt: ctx.now().toISOString(),
    contentType: res.headers['content-type'] ?? 'application/json',
  });
}

async function putRawValue(ctx: Ctx, key: string, value: unknown, operation: string) {
  return ctx.sink.putJson(key, value, {
    sourceOperation: operation,
    runId: ctx.runId,
    fetchedAt: ctx.now().toISOString(),
  });
}

async function listPage(ctx: Ctx, profileId: string, window: Window, cursor: string | undefined) {
  const res = await ctx.http.request(OP.listInvoices, {
    path: '/invoices',
    // count and cursor cannot be combined: count on the first page, the cursor alone after.
    query: cursor ? { cursor } : { startDate: window.from, endDate: window.to, count: PAGE_SIZE },
    headers: { [HEADERS.scope]: profileId, accept: MEDIA.invoices },
  });
  const parsed = invoiceListSchema.safeParse(unwrapPayload(parseExactJson(res.rawBody)));
  return { res, parsed };
}

async function getDetail(ctx: Ctx, profileId: string, invoiceId: string) {
  return ctx.http.request(OP.getInvoice, {
    path: `/invoices/${encodeURIComponent(invoiceId)}`,
    headers: { [HEADERS.scope]: profileId, accept: MEDIA.invoice },
  });
}

function parseDetail(res: HttpResponse<unknown>) {
  return invoiceDetailSchema.safeParse(unwrapPayload(parseExactJson(res.rawBody)));
}

/**
 * One invoice: its detail (raw), its documents, its normalized line. Whatever does not fit the model is
 * kept raw and reported, and the invoice still lands from what did fit (the summary).
 */
async function processInvoice(
  ctx: Ctx,
  profileId: string,
  summary: InvoiceSummary,
): Promise<NormalizedInvoice | undefined> {
  const invoiceId = summary.id;
  let issuedOn: string;
  try {
    issuedOn = toIsoDate(summary.invoiceDate, 'invoiceDate');
  } catch (err) {
    const key = rawPayloadKey('amazon-ads', ctx.connection.id, profileId, `invoice-summary_${invoiceId}`);
    await putRawValue(ctx, key, summary, OP.listInvoices);
    ctx.reportProblem({
      code: 'PAYLOAD_SHAPE',
      message: `invoice ${invoiceId}: ${(err as Error).message}`,
      key,
    });
    return undefined;
  }
  const rawKey = rawInvoiceKey('amazon-ads', ctx.connection.id, profileId, issuedOn, invoiceId);

  let detail: InvoiceDetail | undefined;
  try {
    const res = await getDetail(ctx, profileId, invoiceId);
    await putRaw(ctx, rawKey, res, OP.getInvoice);
    const parsed = parseDetail(res);
    if (parsed.success) detail = parsed.data;
    else {
      ctx.reportProblem({
        code: 'PAYLOAD_SHAPE',
        message: `invoice ${invoiceId}: the detail does not fit the model (${describeIssues(parsed.error)}); normalized from its summary`,
        key: rawKey,
      });
    }
  } catch (err) {
    const e = err as { name?: string; status?: number; message?: string; rawBody?: string };
    if (e.name === 'PayloadError' && typeof e.rawBody === 'string') {
      // Not JSON at all: the body is kept as it came, the invoice lands from its summary.
      await putRaw(
        ctx,
        rawKey,
        {
          status: 200,
          headers: { 'content-type': 'application/octet-stream' },
          data: undefined,
          rawBody: e.rawBody,
        },
        OP.getInvoice,
      );
      ctx.reportProblem({
        code: 'PAYLOAD_SHAPE',
        message: `invoice ${invoiceId}: ${e.message}`,
        key: rawKey,
      });
    } else if (e.name === 'ProviderError' && e.status === 404) {
      await putRawValue(ctx, rawKey, { invoiceSummary: summary }, OP.listInvoices);
      ctx.reportProblem({
        code: 'DETAIL_NOT_FOUND',
        message: `invoice ${invoiceId}: ${e.message}`,
        key: rawKey,
      });
    } else throw err;
  }

  const summaryNow = detail?.invoiceSummary ?? summary;
  const { documents, availableDocTypes } = await copyInvoiceDocuments(ctx, {
    profileId,
    summary: summaryNow,
    detail,
    refreshDetail: async () => {
      const parsed = parseDetail(await getDetail(ctx, profileId, invoiceId));
      return parsed.success ? parsed.data : undefined;
    },
  });
  try {
    const invoice = normalizeInvoice({
      connection: ctx.connection.id,
      profileId,
      summary: summaryNow,
      detail,
      documents,
      availableDocTypes,
      rawKey,
      fetchedAt: ctx.now().toISOString(),
    });
    ctx.count('invoices');
    return invoice;
  } catch (err) {
    ctx.reportProblem({
      code: 'NORMALIZE',
      message: `invoice ${invoiceId}: ${(err as Error).message}`,
      key: rawKey,
    });
    return undefined;
  }
}

/** Merges a batch of normalized invoices into their month files (by invoiceId: a rerun replaces its lines). */
async function flush(ctx: Ctx, profileId: string, invoices: NormalizedInvoice[]): Promise<void> {
  const byMonth = new Map<string, NormalizedInvoice[]>();
  for (const inv of invoices) {
    const key = normalizedMonthKey('amazon-ads', ctx.connection.id, profileId, inv.issuedOn);
    byMonth.set(key, [...(byMonth.get(key) ?? []), inv]);
  }
  for (const [key, records] of byMonth) {
    await ctx.sink.mergeJsonl(key, records, 'invoiceId', {
      sourceOperation: OP.getInvoice,
      runId: ctx.runId,
      fetchedAt: ctx.now().toISOString(),
      contentType: 'application/x-ndjson',
    });
  }
  invoices.length = 0;
}

interface Position {
  cursor: string | undefined;
  page: number;
  /** Invoices of the page already done. */
  skip: number;
  transient: number;
}

function continuation(message: FetchMessage, at: Position): JobMessageInput {
  const { notBefore: _n, cursor: _c, state: _s, ...rest } = message;
  return {
    ...rest,
    ...(at.cursor ? { cursor: at.cursor } : {}),
    state: { page: at.page, skip: at.skip, ...(at.transient ? { transient: at.transient } : {}) },
    continuation: message.continuation + 1,
  };
}

function isTransient(err: unknown): boolean {
  const e = err as { name?: string; status?: number };
  return e?.name === 'ProviderError' && (e.status === 0 || e.status === 429 || (e.status ?? 0) >= 500);
}

/**
 * Hands the rest of the profile back to the queue at `at`: a defer keeps its own time, a transient failure
 * that outlived the client's retries waits a growing while (a few times at most, then the message fails
 * and SQS's redrive takes over).
 */
function handOver(err: unknown, message: FetchMessage, at: Position, ctx: Ctx): never {
  if (isDefer(err)) throw (err as DeferError).withContinuation(continuation(message, at));
  if (isTransient(err) && at.transient < MAX_TRANSIENT_DEFERS) {
    const next = { ...at, transient: at.transient + 1 };
    const waitMs = Math.min(900, 15 * 2 ** at.transient) * 1000;
    ctx.log.warn('provider unavailable, continuing later', { error: (err as Error).message, waitMs });
    throw new DeferError(
      OP.listInvoices,
      new Date(Date.now() + waitMs),
      'unavailable',
      continuation(message, next),
    );
  }
  throw err;
}

function positiveInt(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0;
}

async function fetchOne(message: FetchMessage, ctx: Ctx, invoiceId: string): Promise<void> {
  const profileId = message.scope;
  const res = await getDetail(ctx, profileId, invoiceId);
  const parsed = parseDetail(res);
  if (!parsed.success) {
    const key = rawPayloadKey('amazon-ads', ctx.connection.id, profileId, `invoice_${invoiceId}`);
    await putRaw(ctx, key, res, OP.getInvoice);
    ctx.reportProblem({
      code: 'PAYLOAD_SHAPE',
      message: `invoice ${invoiceId}: ${describeIssues(parsed.error)}`,
      key,
    });
    return;
  }
  const invoice = await processInvoice(ctx, profileId, parsed.data.invoiceSummary);
  if (invoice) await flush(ctx, profileId, [invoice]);
}

/**
 * One profile over its window: pages of summaries (raw), each invoice's detail (raw), documents and
 * normalized line. Progress is (cursor of the page, invoices done in it): when the budget runs low or the
 * provider says wait, that position travels in a continuation, so no page is lost or done twice.
 */
export async function fetchInvoices(message: FetchMessage, ctx: Ctx): Promise<void> {
  const profileId = message.scope;
  const one = message.state?.invoiceId;
  if (typeof one === 'string' && one) return fetchOne(message, ctx, one);

  const at: Position = {
    cursor: message.cursor,
    page: positiveInt(message.state?.page),
    skip: positiveInt(message.state?.skip),
    transient: positiveInt(message.state?.transient),
  };
  const done: NormalizedInvoice[] = [];
  const pageName = () =>
    `invoices_${message.window.from}_${message.window.to}_p${String(at.page).padStart(4, '0')}`;

  for (;;) {
    let page: Awaited<ReturnType<typeof listPage>>;
    try {
      page = await listPage(ctx, profileId, message.window, at.cursor);
    } catch (err) {
      handOver(err, message, at, ctx);
    }
    const pageKey = rawPayloadKey('amazon-ads', ctx.connection.id, profileId, pageName());
    await putRaw(ctx, pageKey, page.res, OP.listInvoices);
    if (!page.parsed.success) {
      throw Object.assign(
        new Error(
          `${OP.listInvoices}: the answer does not fit the model (${describeIssues(page.parsed.error)}); kept at ${pageKey}`,
        ),
        { name: 'PayloadError', retryable: false },
      );
    }
    const { invoiceSummaries, nextCursor } = page.parsed.data;

    for (let i = at.skip; i < invoiceSummaries.length; i++) {
      at.skip = i;
      if (ctx.budget.remainingMs() < MIN_BUDGET_MS) {
        await flush(ctx, profileId, done);
        throw new DeferError(OP.getInvoice, new Date(), 'budget', continuation(message, at));
      }
      const parsed = invoiceSummarySchema.safeParse(invoiceSummaries[i]);
      if (!parsed.success) {
        const key = rawPayloadKey('amazon-ads', ctx.connection.id, profileId, `${pageName()}_item${i}`);
        await putRawValue(ctx, key, invoiceSummaries[i], OP.listInvoices);
        ctx.reportProblem({
          code: 'PAYLOAD_SHAPE',
          message: `invoice summary ${i} of page ${at.page} does not fit the model: ${describeIssues(parsed.error)}`,
          key,
        });
        continue;
      }
      try {
        const invoice = await processInvoice(ctx, profileId, parsed.data);
        if (invoice) done.push(invoice);
        at.transient = 0;
      } catch (err) {
        await flush(ctx, profileId, done);
        handOver(err, message, at, ctx);
      }
    }
    await flush(ctx, profileId, done);
    if (!nextCursor) break;
    at.cursor = nextCursor;
    at.page += 1;
    at.skip = 0;
  }
  await ctx.state.setWatermark('amazon-ads', ctx.connection.id, profileId, message.window.to);
  ctx.log.info('profile fetched', { profileId, pages: at.page + 1, window: message.window });
}
