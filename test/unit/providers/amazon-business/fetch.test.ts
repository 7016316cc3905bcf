import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amazonBusinessSimulator } from '../../../../infra/sandbox/amazon-business/index.ts';
import { type Sandbox, startSandbox } from '../../../../infra/sandbox/index.ts';
import { parseSecret } from '../../../../shared/aws/secrets.ts';
import { amazonBusinessConnectionSchema } from '../../../../shared/config/schema.ts';
import { processMessage } from '../../../../shared/engine/process-message.ts';
import type { Gap } from '../../../../shared/engine/reconciliation.ts';
import { specHttp } from '../../../../shared/engine/spec-http.ts';
import { addDecimals } from '../../../../shared/invoice/money.ts';
import { type JobMessageInput, jobMessageSchema } from '../../../../shared/jobs/messages.ts';
import { PAYMENT_MISSING } from '../../../../shared/providers/amazon-business/invoice-gaps.ts';
import { forgetListings } from '../../../../shared/providers/amazon-business/listing-pages.ts';
import {
  amazonBusinessSpec,
  type BusinessConnection,
} from '../../../../shared/providers/amazon-business/spec.ts';
import type { Counter, ProviderContext, StateStore } from '../../../../shared/providers/types.ts';
import { MemorySink, withMemoryPendingDocuments } from '../../../helpers/memory-context.ts';
import { tableOf } from '../../../helpers/memory-invoice-table.ts';

/**
 * The engine running the Amazon Business spec against the simulator, with an in-memory sink, state and
 * queue: every invoice of a window lands once with the ground truth's money, whatever continuations cut
 * the listing, JP invoices keep their own totals, and what is not final yet (null details, line items
 * not invoiced, Pending consolidations) is reported and lands on a later run.
 */

const DAY = 86_400_000;
const HOUR = 3_600_000;
// The data ends on the 15th of a month in the future and the clock starts just past it: the first run
// sees null details, line items not invoiced yet and this month's consolidations Pending, and nothing
// changes while it runs (the earliest of those resolves 23 hours later).
const END = Date.UTC(new Date().getUTCFullYear() + 1, 2, 15);
const iso = (ms: number) => new Date(ms).toISOString();
const day = (ms: number) => iso(ms).slice(0, 10);
const WINDOW = { from: day(END - 60 * DAY), to: day(END - DAY) };
const NA = 'biz-na';
const JP = 'biz-jp';

interface Truth {
  region: string;
  currency: string;
  invoices: Array<{
    invoiceNumber: string;
    invoiceType: 'STANDARD' | 'CREDIT_MEMO';
    kind: string;
    issuedOn: string;
    currency: string;
    subtotal: string;
    tax: string;
    total: string;
    associatedInvoiceNumber: string | null;
    consolidatedInvoiceNumber: string | null;
    detailsAvailable: boolean;
    transactionId: string;
    lineItems: Array<{ orderId: string; orderLineItemId: string; shipmentId: string }>;
    payment:
      | { resultType: 'SUCCESS'; paymentDetails: { status: string; dueDate: string } }
      | { resultType: 'ERROR'; error: { code: string } };
  }>;
  uninvoiced: unknown[];
}

type Line = Record<string, unknown> & {
  invoiceId: string;
  total: string;
  tax: string;
  subtotal: string;
  kind: string;
  issuedOn: string;
  rawKey: string;
};

const sameDecimal = (a: string, b: string) =>
  addDecimals(a, b.startsWith('-') ? b.slice(1) : `-${b}`) === '0';

interface World {
  sink: MemorySink;
  counts: Partial<Record<Counter, number>>;
  problems: Array<{ code: string; message: string; key?: string }>;
  gaps: Gap[];
  watermarks: Map<string, string>;
}

const newWorld = (): World => ({
  sink: new MemorySink(),
  counts: {},
  problems: [],
  gaps: [],
  watermarks: new Map(),
});

describe('amazon-business fetch against the simulator', () => {
  let sandbox: Sandbox;
  let sim: string;
  const connections: Record<string, BusinessConnection> = {};

  const context = (
    connection: BusinessConnection,
    world: World,
    remainingMs: () => number = () => 60_000,
  ): ProviderContext<BusinessConnection> => {
    const budget = { deadline: Date.now() + 60_000, remainingMs };
    const log = { debug() {}, info() {}, warn() {}, error() {} };
    const secret = parseSecret(amazonBusinessSpec.secret, sandbox.credentials[connection.id], 'unit');
    return {
      connection,
      runId: 'unit-run',
      secret,
      http: specHttp('amazon-business', amazonBusinessSpec.client, connection, secret, {
        budget,
        log,
        onEvent: () => {},
        allowLoopback: true,
        extraDownloadHosts: [],
        deferThresholdMs: 5_000,
      }),
      sink: world.sink,
      invoices: tableOf(world.sink),
      state: withMemoryPendingDocuments({
        getWatermark: async (_p: string, _c: string, scope: string) => world.watermarks.get(scope),
        setWatermark: async (_p: string, _c: string, scope: string, date: string) => {
          world.watermarks.set(scope, date);
        },
      }) as unknown as StateStore,
      queue: { send: async () => {}, sendBatch: async () => {} },
      log,
      count: (c, n = 1) => {
        world.counts[c] = (world.counts[c] ?? 0) + n;
      },
      reportProblem: (p) => world.problems.push(p),
      reportGap: (g) => world.gaps.push(g),
      budget,
      now: () => new Date(),
    };
  };

  /** A listing to its end: each continuation in a fresh context (and, with `fresh`, a fresh container). */
  const listing = async (
    id: string,
    world: World,
    opts: { runId?: string; window?: typeof WINDOW; lowEvery?: number; fresh?: boolean } = {},
  ) => {
    let message: JobMessageInput = {
      v: 1,
      type: 'fetch',
      runId: opts.runId ?? 'unit-run',
      provider: 'amazon-business',
      connection: id,
      scope: 'default',
      window: opts.window ?? WINDOW,
      state: { job: 'invoices', args: {} },
      continuation: 0,
    };
    for (let round = 0; ; round++) {
      // The budget runs low after `lowEvery` looks at it: each invocation gets some work done.
      let calls = 0;
      const remaining = () => (opts.lowEvery && ++calls > opts.lowEvery ? 1_000 : 60_000);
      const ctx = { ...context(connections[id]!, world, remaining), runId: message.runId };
      try {
        await processMessage(jobMessageSchema.parse(message), ctx as ProviderContext, amazonBusinessSpec);
        return round;
      } catch (err) {
        const e = err as { name?: string; continuation?: JobMessageInput };
        if (e.name !== 'DeferError' || !e.continuation || round > 2_000) throw err;
        message = e.continuation;
        if (opts.fresh) forgetListings();
      }
    }
  };

  const truth = async (id: string, window = WINDOW): Promise<Truth> => {
    const to = Date.parse(`${window.to}T00:00:00Z`) + DAY;
    const res = await request(
      `${sim}/__sandbox/amazon-business/invoices?connection=${id}&feedStartDate=${window.from}T00:00:00Z&feedEndDate=${iso(to)}`,
    );
    return (await res.body.json()) as Truth;
  };
  const ops = () => sandbox.stats()['amazon-business']!.operations;
  const lines = (world: World, id: string) => world.sink.lines().filter((l) => l.connection === id) as Line[];
  /** transactionIds of the window's stored getTransactions pages. */
  const listedTransactions = (world: World) =>
    new Set(
      [...world.sink.objects.entries()]
        .filter(([k]) => k.includes('/_payloads/'))
        .flatMap(([, v]) => {
          const page = JSON.parse(v.toString()) as { transactions?: Array<{ transactionId: string }> };
          return (page.transactions ?? []).map((t) => t.transactionId);
        }),
    );

  beforeAll(async () => {
    sandbox = await startSandbox({
      seed: 9,
      timeScale: 60,
      simulators: [amazonBusinessSimulator],
      connections: [
        { id: NA, provider: 'amazon-business', region: 'NA' },
        { id: JP, provider: 'amazon-business', region: 'FE' },
      ],
      options: { 'amazon-business': { end: iso(END), pageSize: 40, paymentErrorShare: 0.1 } },
      log: () => {},
    });
    sandbox.clock.advance(END + 2 * HOUR - sandbox.clock.simNow());
    sim = sandbox.endpoints['amazon-business']!;
    for (const [id, region] of [
      [NA, 'NA'],
      [JP, 'FE'],
    ] as const) {
      connections[id] = amazonBusinessConnectionSchema.parse({
        id,
        provider: 'amazon-business',
        region,
        secretName: `unit/${id}`,
        scopes: ['default'],
        schedule: 'rate(1 day)',
        lookbackDays: 40,
        endpoints: { api: sim, token: sandbox.tokenUrls.lwa },
      });
    }
  });
  afterAll(() => sandbox?.close());

  it('lands every invoice of the window once, its money the ground truth to the last digit, across continuations', async () => {
    const before = await truth(NA);
    const opsBefore = structuredClone(ops());
    const world = newWorld();
    // The budget runs low every few checks and every continuation starts in a new container: the later
    // phases read the stored pages back.
    const rounds = await listing(NA, world, { lowEvery: 5, fresh: true });
    const after = await truth(NA);
    expect(rounds).toBeGreaterThan(5);

    const listed = listedTransactions(world);
    const landed = lines(world, NA);
    const ids = landed.map((l) => l.invoiceId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(world.counts.invoices).toBe(landed.length);
    // NA invoices' amounts are their transaction's line items: a credit memo whose REFUND is not in the
    // feed yet waits for the run that lists it; null details wait for a later run.
    const expected = before.invoices.filter((i) => i.detailsAvailable && listed.has(i.transactionId));
    const waiting = before.invoices.filter((i) => i.detailsAvailable && !listed.has(i.transactionId));
    expect(waiting.every((i) => i.invoiceType === 'CREDIT_MEMO')).toBe(true);
    expect(expected.length).toBeGreaterThan(150);
    expect([...ids].sort()).toEqual(expected.map((i) => i.invoiceNumber).sort());

    for (const inv of expected) {
      const line = landed.find((l) => l.invoiceId === inv.invoiceNumber)!;
      expect(line.kind).toBe(inv.kind);
      expect(line.issuedOn).toBe(inv.issuedOn);
      expect(line.currency).toBe('USD');
      for (const field of ['total', 'tax', 'subtotal'] as const) {
        expect(
          sameDecimal(line[field], inv[field]),
          `${inv.invoiceNumber} ${field}: ${line[field]} vs ${inv[field]}`,
        ).toBe(true);
      }
      if (inv.consolidatedInvoiceNumber === 'Pending') {
        expect(line).toMatchObject({ consolidatedInvoiceNumber: null, consolidationPending: true });
      } else {
        expect(line).toMatchObject({
          consolidatedInvoiceNumber: inv.consolidatedInvoiceNumber,
          consolidationPending: false,
        });
      }
      // Payment statuses move with the simulated clock: checked where it did not move during the run.
      const later = after.invoices.find((i) => i.invoiceNumber === inv.invoiceNumber)!;
      if (JSON.stringify(later.payment) === JSON.stringify(inv.payment)) {
        if (inv.payment.resultType === 'SUCCESS') {
          expect(line.status).toBe(inv.payment.paymentDetails.status);
          expect(line.dueOn).toBe(inv.payment.paymentDetails.dueDate.slice(0, 10));
          expect(line.paymentError).toBeNull();
        } else {
          expect(line).toMatchObject({
            status: null,
            dueOn: null,
            paymentError: { code: inv.payment.error.code },
          });
        }
      }
      // NA credit memos do not name their invoice: it is the one STANDARD invoice of their line item.
      if (inv.kind === 'CREDIT_NOTE') {
        const original = before.invoices.find(
          (i) =>
            i.invoiceType === 'STANDARD' &&
            i.lineItems.some((l) => l.orderLineItemId === inv.lineItems[0]!.orderLineItemId),
        );
        expect(line.correctsInvoiceId).toBe(original?.detailsAvailable ? original.invoiceNumber : null);
      }
      // The raw file holds the provider's bytes of the invoice's detail, transactions and payment result.
      const raw = JSON.parse(world.sink.text(line.rawKey)!) as {
        invoiceDetail: { invoiceNumber: string };
        transactions: Array<{ transactionId: string }>;
        paymentDetails: { invoiceId: string };
      };
      expect(raw.invoiceDetail.invoiceNumber).toBe(inv.invoiceNumber);
      expect(raw.transactions.map((t) => t.transactionId)).toEqual([inv.transactionId]);
      expect(raw.paymentDetails.invoiceId).toBe(inv.invoiceNumber);
    }
    expect(landed.some((l) => l.kind === 'CREDIT_NOTE')).toBe(true);
    expect(landed.some((l) => (l.total as string).replace(/^-?\d+\.?/, '').length > 2)).toBe(true);

    // 25 a call: every distinct order line item asked once; payment details once a page of 25 invoices (a
    // page cut by the budget is asked again when its continuation comes back to it).
    const lineItems = new Set(
      [...world.sink.objects.entries()]
        .filter(([k]) => k.includes('/_payloads/'))
        .flatMap(([, v]) => {
          const page = JSON.parse(v.toString()) as {
            transactions?: Array<{
              transactionLineItems: Array<{ orderLineItemId: string; shipmentId: string }>;
            }>;
          };
          return (page.transactions ?? []).flatMap((t) =>
            t.transactionLineItems.map((l) => `${l.orderLineItemId}/${l.shipmentId}`),
          );
        }),
    );
    const delta = (op: string) =>
      (ops()[op]?.requests ?? 0) -
      (opsBefore[op]?.requests ?? 0) -
      (ops()[op]?.throttled ?? 0) +
      (opsBefore[op]?.throttled ?? 0);
    expect(delta('getInvoiceDetailsByOrderLineItems')).toBe(Math.ceil(lineItems.size / 25));
    expect(delta('getBatchInvoicePaymentDetails')).toBeGreaterThanOrEqual(Math.ceil(expected.length / 25));

    // What is not final is reported, with counts.
    const codes = world.problems.map((p) => p.code);
    expect(codes).toContain('NULL_INVOICE_DETAILS');
    expect(codes).toContain('NOT_INVOICED_YET');
    expect(codes).toContain('CONSOLIDATION_PENDING');
    const notInFeed = world.problems.find((p) => p.code === 'TRANSACTION_NOT_IN_FEED');
    expect(notInFeed?.message).toMatch(new RegExp(`^${waiting.length} invoices`));
    // An invoice without payment details is a gap of the run's control totals, named one by one.
    const paymentErrors = world.gaps.filter((g) => g.code === PAYMENT_MISSING);
    expect(paymentErrors.map((g) => g.invoiceId).sort()).toEqual(
      landed
        .filter((l) => l.paymentError !== null)
        .map((l) => l.invoiceId)
        .sort(),
    );
    expect(paymentErrors.length).toBeGreaterThan(0);
    // The simulator's amounts add up, and its late invoices are within their grace period.
    expect(world.gaps.filter((g) => g.code !== PAYMENT_MISSING)).toEqual([]);
    expect(world.watermarks.get('default')).toBe(WINDOW.to);
  });

  it('JP: the invoice totals win, credit memos name their invoice and are negative', async () => {
    const before = await truth(JP);
    const world = newWorld();
    await listing(JP, world);
    const landed = lines(world, JP);
    // JP invoices state their own totals: a credit memo lands even before its REFUND reaches the feed.
    const expected = before.invoices.filter((i) => i.detailsAvailable);
    expect([...landed.map((l) => l.invoiceId)].sort()).toEqual(expected.map((i) => i.invoiceNumber).sort());
    for (const inv of expected) {
      const line = landed.find((l) => l.invoiceId === inv.invoiceNumber)!;
      expect(line.currency).toBe('JPY');
      for (const field of ['total', 'tax', 'subtotal'] as const) {
        expect(sameDecimal(line[field], inv[field]), `${inv.invoiceNumber} ${field}`).toBe(true);
      }
      if (inv.kind === 'CREDIT_NOTE') {
        expect(line.total.startsWith('-')).toBe(true);
        expect(line.correctsInvoiceId).toBe(inv.associatedInvoiceNumber);
      }
    }
    expect(world.problems.map((p) => p.code)).not.toContain('TRANSACTION_NOT_IN_FEED');
  });

  it('a rerun adds nothing; a later run resolves null details, new invoices and Pending consolidations', async () => {
    const world = newWorld();
    const opsBefore = structuredClone(ops());
    await listing(NA, world, { runId: 'run-1' });
    const keys = [...world.sink.objects.keys()].sort();
    const first = lines(world, NA);
    // Without continuations, one payment details call per 25 invoices exactly.
    const payments = ops().getBatchInvoicePaymentDetails!;
    expect(payments.requests - payments.throttled).toBe(
      opsBefore.getBatchInvoicePaymentDetails!.requests -
        opsBefore.getBatchInvoicePaymentDetails!.throttled +
        Math.ceil(first.length / 25),
    );
    await listing(NA, world, { runId: 'run-2' });
    expect([...world.sink.objects.keys()].sort()).toEqual(keys);
    const strip = (ls: Line[]) =>
      ls
        .map(({ fetchedAt: _f, status: _s, dueOn: _d, paymentError: _p, ...l }) => l)
        .sort((a, b) => (a.invoiceId < b.invoiceId ? -1 : 1));
    expect(strip(lines(world, NA))).toEqual(strip(first));

    // Past the next month's consolidation and every late detail; the window now reaches the late feed too.
    sandbox.clock.advance(Date.UTC(new Date(END).getUTCFullYear(), 3, 5) - sandbox.clock.simNow());
    const window = { from: WINDOW.from, to: day(END + 20 * DAY) };
    const resolved = await truth(NA, window);
    expect(resolved.uninvoiced).toEqual([]);
    expect(
      resolved.invoices.every((i) => i.detailsAvailable && i.consolidatedInvoiceNumber !== 'Pending'),
    ).toBe(true);
    world.problems.length = 0;
    await listing(NA, world, { runId: 'run-3', window });
    const landed = lines(world, NA);
    const ids = new Set(landed.map((l) => l.invoiceId));
    for (const inv of resolved.invoices) {
      expect(ids.has(inv.invoiceNumber), inv.invoiceNumber).toBe(true);
      const line = landed.find((l) => l.invoiceId === inv.invoiceNumber)!;
      expect(sameDecimal(line.total, inv.total)).toBe(true);
      expect(line).toMatchObject({
        consolidationPending: false,
        consolidatedInvoiceNumber: inv.consolidatedInvoiceNumber,
      });
    }
    // Each landed once: the month files hold one line per invoice number.
    expect(landed.length).toBe(ids.size);
    const codes = world.problems.map((p) => p.code);
    for (const code of [
      'NULL_INVOICE_DETAILS',
      'NOT_INVOICED_YET',
      'CONSOLIDATION_PENDING',
      'TRANSACTION_NOT_IN_FEED',
    ]) {
      expect(codes).not.toContain(code);
    }
  });
});
