import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cm360GroundTruth } from '../../../../infra/sandbox/cm360/data.ts';
import { cm360Simulator } from '../../../../infra/sandbox/cm360/index.ts';
import { type Sandbox, startSandbox } from '../../../../infra/sandbox/index.ts';
import { parseSecret } from '../../../../shared/aws/secrets.ts';
import { cm360ConnectionSchema } from '../../../../shared/config/schema.ts';
import { processMessage } from '../../../../shared/engine/process-message.ts';
import { specHttp } from '../../../../shared/engine/spec-http.ts';
import { jobMessageSchema } from '../../../../shared/jobs/messages.ts';
import { OPERATIONS } from '../../../../shared/providers/cm360/api.ts';
import { findInvoice } from '../../../../shared/providers/cm360/find-invoice.ts';
import { type Cm360Connection, cm360Spec } from '../../../../shared/providers/cm360/spec.ts';
import type { ProviderContext } from '../../../../shared/providers/types.ts';
import { MemorySink, MemoryState, memoryContext } from '../../../helpers/memory-context.ts';

/**
 * CM360 has no call for one invoice by id: a PDF that could not be copied is tried again from its
 * invoice's issue month. findInvoice against the simulator (months of several pages), and through the
 * engine: PDFs refused in one run land in a later run whose window holds another month.
 */

const CONN = 'cm-find';
const PROFILE = '7654321';
const GENEROUS = { rate: 10_000, burst: 10_000 };
const FAST = Object.fromEntries(Object.keys(OPERATIONS).map((op) => [op, { rate: 1_000, burst: 1_000 }]));

describe('cm360 findInvoice', () => {
  let sandbox: Sandbox;
  let connection: Cm360Connection;
  let truth: Cm360GroundTruth;

  /** A context whose downloads may or may not go to the simulator's loopback host. */
  const context = (opts: { sink: MemorySink; state: MemoryState; allowLoopback: boolean; runId: string }) => {
    const secret = parseSecret(cm360Spec.secret, sandbox.credentials[CONN], connection.secretName);
    const budget = { deadline: Date.now() + 60_000, remainingMs: () => 60_000 };
    const log = { debug() {}, info() {}, warn() {}, error() {} };
    const http = specHttp(
      'cm360',
      cm360Spec.client,
      connection,
      secret,
      {
        budget,
        log,
        onEvent: () => {},
        allowLoopback: opts.allowLoopback,
        extraDownloadHosts: [],
        deferThresholdMs: 5_000,
      },
      { operations: FAST },
    );
    const m = memoryContext(connection, { http, sink: opts.sink, state: opts.state, now: new Date() });
    m.ctx.runId = opts.runId;
    m.ctx.secret = secret;
    return m;
  };
  const billed = () => truth.advertisers.filter((a) => a.invoices);

  beforeAll(async () => {
    sandbox = await startSandbox({
      seed: 31,
      timeScale: 10,
      simulators: [cm360Simulator],
      connections: [{ id: CONN, provider: 'cm360', profileId: PROFILE }],
      options: {
        cm360: {
          lastIssueMonth: '202405',
          months: 3,
          advertisers: 4,
          maxPageSize: 2,
          rateLimit: GENEROUS,
          userQuota: GENEROUS,
          projectQuota: GENEROUS,
        },
      },
      log: () => {},
    });
    const sim = sandbox.endpoints.cm360!;
    connection = cm360ConnectionSchema.parse({
      id: CONN,
      provider: 'cm360',
      secretName: `unit/${CONN}`,
      scopes: 'discover',
      schedule: 'rate(1 day)',
      lookbackDays: 30,
      profileId: PROFILE,
      endpoints: { api: sim, token: sandbox.tokenUrls.google },
    });
    const res = await request(`${sim}/__sandbox/cm360/ground-truth?connection=${CONN}`);
    truth = (await res.body.json()) as Cm360GroundTruth;
  });
  afterAll(() => sandbox?.close());

  it("finds an invoice on any page of its month, with the item's own bytes; not one the month does not list, nor a consolidated advertiser's", async () => {
    const { ctx } = context({
      sink: new MemorySink(),
      state: new MemoryState(),
      allowLoopback: true,
      runId: 'r',
    });
    const c = ctx as ProviderContext<Cm360Connection>;
    // The last invoice of the month with the most: past the first page (two a page).
    const [adv, month] = billed()
      .flatMap((a) => Object.entries(a.invoices!).map(([m, list]) => [a, m, list.length] as const))
      .sort((x, y) => y[2] - x[2])[0]!;
    const list = adv.invoices![month]!;
    expect(list.length).toBeGreaterThan(2);
    const last = list.at(-1)!;
    const found = await findInvoice(c, adv.advertiserId, last.id, last.issueDate);
    const item = found?.item as { id: string; pdfUrl?: string } | undefined;
    expect(item?.id).toBe(last.id);
    expect(item?.pdfUrl).toBeTruthy();
    expect(JSON.parse(found!.raw.body)).toEqual(item);

    expect(await findInvoice(c, adv.advertiserId, 'no-such-invoice', last.issueDate)).toBeUndefined();
    expect(await findInvoice(c, adv.advertiserId, last.id, undefined)).toBeUndefined();
    const consolidated = truth.advertisers.find((a) => !a.invoices)!;
    expect(await findInvoice(c, consolidated.advertiserId, last.id, last.issueDate)).toBeUndefined();
  });

  it('lands the PDFs a run could not copy in a later run whose window holds another month', async () => {
    const adv = billed().find((a) => (a.invoices!['202403'] ?? []).length > 0)!;
    const march = adv.invoices!['202403']!;
    const sink = new MemorySink();
    const state = new MemoryState();
    const fetch = (runId: string, window: { from: string; to: string }) =>
      jobMessageSchema.parse({
        v: 1,
        type: 'fetch',
        runId,
        provider: 'cm360',
        connection: CONN,
        scope: adv.advertiserId,
        window,
        state: { job: 'invoices', args: {} },
      });

    // Run 1: the PDF host (the simulator, on loopback) is not allowed: every March PDF is refused.
    const first = context({ sink, state, allowLoopback: false, runId: 'run-1' });
    await processMessage(fetch('run-1', { from: '2024-03-01', to: '2024-03-31' }), first.ctx, cm360Spec);
    expect(first.problems.filter((p) => p.code === 'DOCUMENT_LINK_REFUSED')).toHaveLength(march.length);
    expect([...state.pendingDocuments.values()].map((d) => d.invoiceId).sort()).toEqual(
      march.map((i) => i.id).sort(),
    );

    // Run 2 over May only: the March PDFs are found again in March's listing and land.
    const second = context({ sink, state, allowLoopback: true, runId: 'run-2' });
    await processMessage(fetch('run-2', { from: '2024-05-01', to: '2024-05-31' }), second.ctx, cm360Spec);
    expect(second.problems.filter((p) => !p.note)).toEqual([]);
    expect(state.pendingDocuments.size).toBe(0);
    for (const inv of march) {
      const line = sink.lines().find((l) => l.invoiceId === inv.id)!;
      expect(line.documents, inv.id).toEqual([expect.objectContaining({ type: 'INVOICE_PDF', ...inv.pdf })]);
    }
  });
});
