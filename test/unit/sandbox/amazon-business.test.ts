import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amazonBusinessSimulator } from '../../../infra/sandbox/amazon-business/index.ts';
import { type Sandbox, startSandbox } from '../../../infra/sandbox/index.ts';
import { addDecimals } from '../../../shared/invoice/money.ts';
import { lwaToken } from '../../helpers/sandbox-token.ts';

/**
 * The Amazon Business Reconciliation simulator as a client meets it: the LWA token checked, feed-date
 * pages with a nextPageToken sent alone, 1 to 25 line items or invoice ids a call, the usage plan with
 * x-amzn-RateLimit-Limit and 429s, seeded data that does not change between runs, and the time rules
 * (Pending consolidations, all-null invoice details, line items not invoiced yet) that resolve on a later
 * simulated day; plus the ground truth the provider's integration test will compare against.
 */

const BASE = '/reconciliation/2021-01-08';
const DAY = 86_400_000;
const HOUR = 3_600_000;
// The data ends on the 15th of a month in the future and the clock is moved just past it, so every run
// sees the same data at the same simulated moment (March: February's consolidation is final, March's is
// still Pending).
const END = Date.UTC(new Date().getUTCFullYear() + 1, 2, 15);
const iso = (ms: number) => new Date(ms).toISOString();
const WINDOW = `feedStartDate=${iso(END - 60 * DAY)}&feedEndDate=${iso(END + 30 * DAY)}`;

interface Money {
  currencyCode: string;
  amount: string;
}
interface LineItem {
  orderId: string;
  orderLineItemId: string;
  shipmentId: string;
  totalAmount: Money;
}
interface Transaction {
  transactionId: string;
  transactionType: string;
  marketplaceId: string;
  invoiceNumber?: string;
  amount: Money;
  transactionLineItems: LineItem[];
}
interface Detail {
  invoiceNumber: string | null;
  invoiceDate: string | null;
  invoiceType: string | null;
  consolidatedInvoiceDetails?: { invoiceNumber: string };
  associatedInvoiceNumber?: string;
  invoiceTotal?: string;
  transactionDataItems?: Array<{ totalAmount: Money }>;
  fees?: Array<{ tax: { inclusiveTotal: Money } }>;
}
interface Expected {
  invoiceNumber: string;
  invoiceType: string;
  total: string;
  tax: string;
  subtotal: string;
  currency: string;
  associatedInvoiceNumber: string | null;
  consolidatedInvoiceNumber: string | null;
  consolidationReadyAt: string | null;
  detailsAvailable: boolean;
  detailsAvailableAt: string;
  transactionId: string;
  lineItems: Array<{ orderId: string; orderLineItemId: string; shipmentId: string; total: string }>;
  payment: { invoiceId: string; resultType: string };
}
interface Truth {
  region: string;
  transactions: number;
  invoices: Expected[];
  uninvoiced: Array<{
    orderId: string;
    orderLineItemId: string;
    shipmentId: string;
    invoiceExpectedAt: string;
  }>;
}

const lineOf = (l: { orderId: string; orderLineItemId: string; shipmentId: string }) => ({
  orderId: l.orderId,
  orderLineItemId: l.orderLineItemId,
  shipmentId: l.shipmentId,
});

async function businessSandbox(seed: number, timeScale = 1): Promise<Sandbox> {
  const sandbox = await startSandbox({
    seed,
    timeScale,
    simulators: [amazonBusinessSimulator],
    connections: [
      { id: 'biz-na', provider: 'amazon-business', region: 'NA' },
      { id: 'biz-jp', provider: 'amazon-business', region: 'FE' },
    ],
    // Payment details refused for some invoices (off by default: each is a control-totals gap).
    options: { 'amazon-business': { end: iso(END), pageSize: 40, paymentErrorShare: 0.1 } },
    log: () => {},
  });
  sandbox.clock.advance(END + 2 * HOUR - sandbox.clock.simNow());
  return sandbox;
}

function client(sandbox: Sandbox) {
  const sim = sandbox.endpoints['amazon-business']!;
  const tokens = new Map<string, string>();
  const reset = async () => {
    await (await request(`${sim}/__sandbox/rate-limits/reset`, { method: 'POST' })).body.text();
  };
  const call = async (
    path: string,
    opts: { connection?: string; body?: unknown; token?: string | null; retry?: boolean } = {},
  ) => {
    const connection = opts.connection ?? 'biz-na';
    if (!tokens.has(connection)) tokens.set(connection, await lwaToken(sandbox, connection));
    const t = opts.token === undefined ? tokens.get(connection) : opts.token;
    const headers: Record<string, string> = {};
    if (t) headers['x-amz-access-token'] = t;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await request(`${sim}${path}`, {
      method: opts.body !== undefined ? 'POST' : 'GET',
      headers,
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    });
    const text = await res.body.text();
    // The usage plan is tested on its own; elsewhere a 429 only means the test went faster than 2/s.
    if (res.statusCode === 429 && opts.retry !== false) {
      await reset();
      return call(path, { ...opts, retry: false });
    }
    return {
      status: res.statusCode,
      headers: res.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  };
  const admin = async <T>(path: string): Promise<T> => {
    const res = await request(`${sim}/__sandbox${path}`);
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`admin ${path}: ${res.statusCode} ${text}`);
    return JSON.parse(text) as T;
  };
  const truth = (connection: string, at?: number) =>
    admin<Truth>(
      `/amazon-business/invoices?connection=${connection}&${WINDOW}${at !== undefined ? `&at=${iso(at)}` : ''}`,
    );
  const allTransactions = async (connection = 'biz-na') => {
    const pages: Transaction[][] = [];
    let res = await call(`${BASE}/transactions?${WINDOW}`, { connection });
    for (;;) {
      expect(res.status).toBe(200);
      pages.push(res.body.transactions as Transaction[]);
      const next = res.body.nextPageToken as string | undefined;
      if (!next) break;
      res = await call(`${BASE}/transactions?nextPageToken=${encodeURIComponent(next)}`, { connection });
    }
    return pages;
  };
  const details = async (lines: ReadonlyArray<Parameters<typeof lineOf>[0]>, connection = 'biz-na') => {
    const res = await call(`${BASE}/invoices`, { connection, body: { orderLineItems: lines.map(lineOf) } });
    expect(res.status).toBe(200);
    return res.body.invoiceDetailsByOrderLineItems as Array<{
      orderLineItem: ReturnType<typeof lineOf>;
      invoiceDetails: Detail[];
    }>;
  };
  return { sim, call, reset, truth, allTransactions, details };
}

describe('Amazon Business simulator', () => {
  let sandbox: Sandbox;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    sandbox = await businessSandbox(9);
    api = client(sandbox);
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  it('checks the LWA token in x-amz-access-token: missing or unknown is 403 in the errors shape', async () => {
    const missing = await api.call(`${BASE}/transactions?${WINDOW}`, { token: null });
    expect(missing.status).toBe(403);
    expect(missing.body).toEqual({ errors: [expect.objectContaining({ code: 'Unauthorized' })] });
    const bogus = await api.call(`${BASE}/invoices/batch/paymentDetails`, {
      token: 'Atza|bogus',
      body: { invoiceIds: ['X'] },
    });
    expect(bogus.status).toBe(403);
    expect(bogus.body).toEqual({ errors: [expect.objectContaining({ code: 'Unauthorized' })] });
  });

  it('pages transactions with the token alone; the pages hold every transaction of the window once', async () => {
    const pages = await api.allTransactions();
    expect(pages.length).toBeGreaterThan(3);
    expect(pages.slice(0, -1).every((p) => p.length === 40)).toBe(true);
    const ids = pages.flat().map((t) => t.transactionId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe((await api.truth('biz-na')).transactions);
    expect(ids.length).toBeGreaterThan(200);

    // Feed windows are half-open: two adjacent windows list the same transactions as their union.
    const split = iso(END - 20 * DAY);
    const count = async (from: string, to: string) => {
      let n = 0;
      let res = await api.call(`${BASE}/transactions?feedStartDate=${from}&feedEndDate=${to}`);
      for (;;) {
        n += (res.body.transactions as unknown[]).length;
        if (!res.body.nextPageToken) return n;
        res = await api.call(`${BASE}/transactions?nextPageToken=${res.body.nextPageToken as string}`);
      }
    };
    const [from, to] = [iso(END - 60 * DAY), iso(END + 30 * DAY)];
    expect((await count(from, split)) + (await count(split, to))).toBe(ids.length);
  });

  it('refuses a nextPageToken sent with other parameters, missing dates and dates that are not ISO 8601', async () => {
    const first = await api.call(`${BASE}/transactions?${WINDOW}`);
    const mixed = await api.call(
      `${BASE}/transactions?${WINDOW}&nextPageToken=${first.body.nextPageToken as string}`,
    );
    expect(mixed.status).toBe(400);
    expect(mixed.body).toEqual({
      errors: [
        expect.objectContaining({
          code: 'INVALID_REQUEST_PARAMETER',
          details: expect.stringMatching(/only parameter/),
        }),
      ],
    });
    const missing = await api.call(`${BASE}/transactions?feedStartDate=${iso(END - DAY)}`);
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({
      errors: [expect.objectContaining({ code: 'INVALID_REQUEST_PARAMETER' })],
    });
    const bad = await api.call(
      `${BASE}/transactions?feedStartDate=incorrectFormatDate&feedEndDate=${iso(END)}`,
    );
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      errors: [
        {
          code: 'INVALID_REQUEST_PARAMETER',
          message: 'Input date [incorrectFormatDate] is not in the expected ISO8601 format.',
        },
      ],
    });
    const forged = await api.call(`${BASE}/transactions?nextPageToken=not-a-token`);
    expect(forged.status).toBe(400);
  });

  it('takes 1 to 25 order line items and 1 to 25 invoice ids a call; 26 is a 400 in the errors shape', async () => {
    const lines = (await api.allTransactions()).flat().flatMap((t) => t.transactionLineItems.map(lineOf));
    const ok = await api.details(lines.slice(0, 25));
    expect(ok).toHaveLength(25);
    for (const body of [{ orderLineItems: lines.slice(0, 26) }, { orderLineItems: [] }, {}]) {
      const res = await api.call(`${BASE}/invoices`, { body });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        errors: [
          { code: 'INVALID_REQUEST_PARAMETER', message: expect.any(String), details: expect.any(String) },
        ],
      });
    }
    const noShipment = await api.call(`${BASE}/invoices`, {
      body: { orderLineItems: [{ orderId: lines[0]!.orderId, orderLineItemId: lines[0]!.orderLineItemId }] },
    });
    expect(noShipment.status).toBe(400);

    const ids = Array.from({ length: 26 }, (_, i) => `INV-${i}`);
    const p25 = await api.call(`${BASE}/invoices/batch/paymentDetails`, {
      body: { invoiceIds: ids.slice(0, 25) },
    });
    expect(p25.status).toBe(200);
    expect(p25.body.invoicePaymentDetailsResults).toHaveLength(25);
    const p26 = await api.call(`${BASE}/invoices/batch/paymentDetails`, { body: { invoiceIds: ids } });
    expect(p26.status).toBe(400);
    expect(p26.body).toEqual({ errors: [expect.objectContaining({ code: 'INVALID_REQUEST_PARAMETER' })] });
  });

  it('answers each line item by its ids (not in request order): one invoice covers several line items', async () => {
    const { invoices } = await api.truth('biz-na');
    const multi = invoices.find(
      (i) => i.invoiceType === 'STANDARD' && i.lineItems.length >= 3 && i.detailsAvailable,
    )!;
    expect(multi).toBeDefined();
    const asked = [...multi.lineItems].reverse();
    const answer = await api.details(asked);
    expect(
      answer.map((a) => a.orderLineItem).sort((a, b) => a.orderLineItemId.localeCompare(b.orderLineItemId)),
    ).toEqual(asked.map(lineOf).sort((a, b) => a.orderLineItemId.localeCompare(b.orderLineItemId)));
    for (const a of answer) {
      expect(a.invoiceDetails.map((d) => d.invoiceNumber)).toContain(multi.invoiceNumber);
    }
  });

  it('ground truth: every invoice total is the exact sum of its transaction line items, to the last decimal', async () => {
    const truth = await api.truth('biz-na');
    const byId = new Map((await api.allTransactions()).flat().map((t) => [t.transactionId, t]));
    expect(truth.invoices.length).toBeGreaterThan(150);
    for (const inv of truth.invoices) {
      expect(addDecimals(...inv.lineItems.map((l) => l.total))).toBe(inv.total);
      // A credit memo can be issued before its REFUND reaches the feed; the charge's line item leads to it.
      const tx = byId.get(inv.transactionId);
      if (!tx) {
        expect(inv.invoiceType).toBe('CREDIT_MEMO');
        continue;
      }
      expect(tx.transactionType).toBe(inv.invoiceType === 'CREDIT_MEMO' ? 'REFUND' : 'CHARGE');
      expect(tx.invoiceNumber).toBe(inv.invoiceNumber);
      const sum = addDecimals(...tx.transactionLineItems.map((l) => l.totalAmount.amount));
      expect(sum).toBe(inv.total);
      expect(addDecimals(tx.amount.amount)).toBe(inv.total);
      expect(addDecimals(inv.subtotal, inv.tax)).toBe(inv.total);
      expect(inv.lineItems.map((l) => l.total)).toEqual(
        tx.transactionLineItems.map((l) => addDecimals(l.totalAmount.amount)),
      );
      expect(inv.currency).toBe('USD');
    }
    // Money strings carry more decimals than cents.
    expect(truth.invoices.some((i) => /\.\d{3,}$/.test(i.total))).toBe(true);
    const memos = truth.invoices.filter((i) => i.invoiceType === 'CREDIT_MEMO');
    expect(memos.length).toBeGreaterThan(3);
    for (const memo of memos) {
      expect(memo.total.startsWith('-')).toBe(true);
      expect(truth.invoices.some((i) => i.invoiceNumber === memo.associatedInvoiceNumber)).toBe(true);
    }
  });

  it('serves JP data to a FE connection: credit memos name their invoice, and the invoice carries its own totals', async () => {
    const truth = await api.truth('biz-jp');
    expect(truth.region).toBe('JP');
    const first = await api.call(`${BASE}/transactions?${WINDOW}`, { connection: 'biz-jp' });
    expect((first.body.transactions as Transaction[])[0]!.marketplaceId).toBe('A1VC38T7P3XVM7');
    const available = new Map(
      truth.invoices.filter((i) => i.detailsAvailable).map((i) => [i.invoiceNumber, i]),
    );
    const memo = truth.invoices.find(
      (i) =>
        i.invoiceType === 'CREDIT_MEMO' &&
        available.has(i.invoiceNumber) &&
        available.has(i.associatedInvoiceNumber!),
    )!;
    const original = available.get(memo.associatedInvoiceNumber!)!;
    const [answer] = await api.details([memo.lineItems[0]!], 'biz-jp');
    const byNumber = new Map(answer!.invoiceDetails.map((d) => [d.invoiceNumber, d]));
    expect(byNumber.get(memo.invoiceNumber)).toMatchObject({
      invoiceType: 'CREDIT_MEMO',
      associatedInvoiceNumber: original.invoiceNumber,
      invoiceTotal: expect.stringMatching(/^\d+\.0$/),
    });
    // A credit memo prints its total positive; the REFUND transaction carries the sign.
    expect(addDecimals(byNumber.get(memo.invoiceNumber)!.invoiceTotal!)).toBe(memo.total.replace(/^-/, ''));
    const std = byNumber.get(original.invoiceNumber)!;
    expect(addDecimals(std.invoiceTotal!)).toBe(original.total);
    const parts = [
      ...std.transactionDataItems!.map((i) => i.totalAmount.amount),
      ...std.fees!.map((f) => f.tax.inclusiveTotal.amount),
    ];
    expect(addDecimals(...parts)).toBe(original.total);
    // NA credit memos do not: the model says associatedInvoiceNumber is JP only.
    const na = (await api.truth('biz-na')).invoices.find(
      (i) => i.invoiceType === 'CREDIT_MEMO' && i.detailsAvailable,
    )!;
    const [naAnswer] = await api.details([na.lineItems[0]!]);
    const naMemo = naAnswer!.invoiceDetails.find((d) => d.invoiceNumber === na.invoiceNumber)!;
    expect(naMemo.invoiceType).toBe('CREDIT_MEMO');
    expect(naMemo).not.toHaveProperty('associatedInvoiceNumber');
    expect(naMemo).not.toHaveProperty('invoiceTotal');
  });

  it('answers payment details per invoice id as the ground truth says: status and due date, or a per-invoice ERROR', async () => {
    const { invoices } = await api.truth('biz-na');
    const picked = invoices.slice(0, 24);
    const res = await api.call(`${BASE}/invoices/batch/paymentDetails`, {
      body: { invoiceIds: [...picked.map((i) => i.invoiceNumber), 'NOT-AN-INVOICE'] },
    });
    expect(res.status).toBe(200);
    const results = res.body.invoicePaymentDetailsResults as Array<Record<string, unknown>>;
    expect(results.slice(0, 24)).toEqual(picked.map((i) => i.payment));
    expect(results[24]).toEqual({
      invoiceId: 'NOT-AN-INVOICE',
      resultType: 'ERROR',
      error: expect.objectContaining({ code: 'INVOICE_NOT_FOUND' }),
    });
    const all = invoices.map((i) => i.payment);
    expect(all.some((p) => p.resultType === 'ERROR')).toBe(true);
    expect(all.filter((p) => p.resultType === 'SUCCESS')).toContainEqual(
      expect.objectContaining({
        paymentDetails: { status: expect.any(String), dueDate: expect.stringMatching(/T23:59:59Z$/) },
      }),
    );
  });

  it('applies the framework faults to its operations (an injected 500 comes in the errors shape)', async () => {
    const faults = async (body: unknown) =>
      (
        await request(`${api.sim}/__sandbox/faults`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      ).body.text();
    await faults({ serverErrorRate: 1, operations: ['getTransactions'] });
    const res = await api.call(`${BASE}/transactions?${WINDOW}`);
    await faults({});
    expect([500, 503]).toContain(res.status);
    expect(res.body).toEqual({
      errors: [
        expect.objectContaining({ code: expect.stringMatching(/^(InternalFailure|ServiceUnavailable)$/) }),
      ],
    });
  });

  it('line items not invoiced yet and all-null invoice details resolve on a later simulated day', async () => {
    const before = await api.truth('biz-na');
    const nulls = before.invoices.filter((i) => !i.detailsAvailable);
    expect(nulls.length).toBeGreaterThan(0);
    expect(before.uninvoiced.length).toBeGreaterThan(0);
    const nullLine = nulls[0]!.lineItems[0]!;
    const waiting = before.uninvoiced[0]!;

    const [nullAnswer, waitingAnswer] = await api
      .details([nullLine, waiting])
      .then((a) =>
        [nullLine, waiting].map((l) => a.find((x) => x.orderLineItem.orderLineItemId === l.orderLineItemId)!),
      );
    expect(nullAnswer!.invoiceDetails).toContainEqual({
      invoiceNumber: null,
      invoiceDate: null,
      invoiceType: null,
    });
    expect(waitingAnswer!.invoiceDetails).toEqual([]);

    const until = Math.max(
      ...nulls.map((i) => Date.parse(i.detailsAvailableAt)),
      ...before.uninvoiced.map((u) => Date.parse(u.invoiceExpectedAt)),
    );
    sandbox.clock.advance(until + 1000 - sandbox.clock.simNow());

    const after = await api.truth('biz-na');
    expect(after.uninvoiced).toEqual([]);
    expect(after.invoices.every((i) => i.detailsAvailable)).toBe(true);
    const resolved = await api.details([nullLine, waiting]);
    const numbers = resolved.flatMap((a) => a.invoiceDetails.map((d) => d.invoiceNumber));
    expect(numbers).toContain(nulls[0]!.invoiceNumber);
    expect(numbers).not.toContain(null);
    const invoiced = after.invoices.find((i) =>
      i.lineItems.some((l) => l.orderLineItemId === waiting.orderLineItemId && i.invoiceType === 'STANDARD'),
    )!;
    expect(numbers).toContain(invoiced.invoiceNumber);
  });

  it('a Pending consolidated number resolves to the final one once its month closes (and the ground truth follows)', async () => {
    const before = await api.truth('biz-na');
    const pending = before.invoices.find(
      (i) => i.consolidatedInvoiceNumber === 'Pending' && i.detailsAvailable,
    )!;
    expect(pending).toBeDefined();
    const ask = async () => {
      const [a] = await api.details([pending.lineItems[0]!]);
      return a!.invoiceDetails.find((d) => d.invoiceNumber === pending.invoiceNumber)!;
    };
    expect((await ask()).consolidatedInvoiceDetails).toEqual({ invoiceNumber: 'Pending' });
    // The rule: the month after the invoice's month, plus consolidationDelayDays (3).
    const issued = new Date(Date.parse((await ask()).invoiceDate!));
    const ready = Date.UTC(issued.getUTCFullYear(), issued.getUTCMonth() + 1, 1) + 3 * DAY;
    expect(pending.consolidationReadyAt).toBe(iso(ready));
    const stillPending = await api.truth('biz-na', ready - 1);
    expect(
      stillPending.invoices.find((i) => i.invoiceNumber === pending.invoiceNumber)?.consolidatedInvoiceNumber,
    ).toBe('Pending');

    sandbox.clock.advance(ready + 1000 - sandbox.clock.simNow());
    const final = (await ask()).consolidatedInvoiceDetails!.invoiceNumber;
    expect(final).not.toBe('Pending');
    const after = await api.truth('biz-na');
    const sameMonth = after.invoices.filter((i) => i.consolidationReadyAt === pending.consolidationReadyAt);
    expect(sameMonth.length).toBeGreaterThan(1);
    expect(new Set(sameMonth.map((i) => i.consolidatedInvoiceNumber))).toEqual(new Set([final]));
    // The consolidated invoice has payment details of its own once it exists.
    const pay = await api.call(`${BASE}/invoices/batch/paymentDetails`, { body: { invoiceIds: [final] } });
    const [result] = pay.body.invoicePaymentDetailsResults as Array<{
      invoiceId: string;
      error?: { code: string };
    }>;
    expect(result!.invoiceId).toBe(final);
    expect(result!.error?.code).not.toBe('INVOICE_NOT_FOUND');
  });
});

describe('Amazon Business simulator: seeded data', () => {
  it('the same seed gives the same data; another seed does not', async () => {
    const boxes = await Promise.all([businessSandbox(9), businessSandbox(9), businessSandbox(10)]);
    try {
      const at = END + HOUR;
      const [a, b, c] = await Promise.all(boxes.map((s) => client(s).truth('biz-na', at)));
      expect(b).toEqual(a);
      expect(c!.invoices.map((i) => i.invoiceNumber)).not.toEqual(a!.invoices.map((i) => i.invoiceNumber));
      const pages = await Promise.all(
        boxes
          .slice(0, 2)
          .map((s) =>
            client(s).call(
              `${BASE}/transactions?feedStartDate=${iso(END - 60 * DAY)}&feedEndDate=${iso(END - 30 * DAY)}`,
            ),
          ),
      );
      expect(pages[0]!.body).toEqual(pages[1]!.body);
      expect((pages[0]!.body.transactions as unknown[]).length).toBeGreaterThan(0);
    } finally {
      await Promise.all(boxes.map((s) => s.close()));
    }
  });
});

describe('Amazon Business simulator: usage plan', () => {
  it('announces 2 requests/s and lets a burst of 10 through, then 429 in the errors shape', async () => {
    // A slow clock: the bucket does not refill during the test, so exactly the burst passes.
    const timeScale = 0.001;
    const sandbox = await businessSandbox(9, timeScale);
    try {
      const api = client(sandbox);
      await api.reset();
      const statuses: number[] = [];
      let last: Awaited<ReturnType<typeof api.call>> | undefined;
      for (let i = 0; i < 11; i++) {
        last = await api.call(`${BASE}/invoices/batch/paymentDetails`, {
          body: { invoiceIds: ['X'] },
          retry: false,
        });
        statuses.push(last.status);
        expect(last.headers['x-amzn-ratelimit-limit']).toBe(String(2 * timeScale));
      }
      expect(statuses).toEqual([...Array(10).fill(200), 429]);
      expect(last!.body).toEqual({ errors: [expect.objectContaining({ code: 'QuotaExceeded' })] });
      // Buckets are per operation: another operation still has its burst.
      expect((await api.call(`${BASE}/transactions?${WINDOW}`, { retry: false })).status).toBe(200);
    } finally {
      await sandbox.close();
    }
  });
});
