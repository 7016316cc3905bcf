import { Readable } from 'node:stream';
import { reconciliationKey } from '../aws/keys.ts';
import type { Connection } from '../config/schema.ts';
import type { NormalizedInvoice } from '../invoice/model.ts';
import type { ReconcileMessage, Window } from '../jobs/messages.ts';
import type { ProviderContext } from '../providers/types.ts';
import type { Decorate } from './invoice-store.ts';
import type { TableEntry } from './invoice-table.ts';
import type { ProviderSpec } from './provider-spec.ts';
import {
  type Gap,
  type ReconcileInput,
  type ReconciliationSummary,
  type RunScope,
  Totals,
} from './reconciliation.ts';
import { exportKeyOf } from './start-export.ts';
import { monthsOf } from './window.ts';

const permanent = (message: string) => Object.assign(new Error(message), { retryable: false });

/**
 * A connection's control totals, once every other message of its run is done: the gaps its invoices
 * showed as they landed, its documents still pending, the provider's cross-checks (spec.reconcile), and
 * counts and totals by currency and status of the run's windows. Written as one file of JSON lines
 * (gaps as found, the summary last: nothing is held but the totals), kept in the run record, counted as
 * ReconciliationGaps. A gap makes the run PARTIAL, or FAILED if the connection says so.
 */
export async function reconcileConnection<C extends Connection>(
  spec: ProviderSpec<C>,
  message: ReconcileMessage,
  ctx: ProviderContext<C>,
): Promise<void> {
  const { state } = ctx;
  if (!state.runScopes || !state.runGaps || !state.setReconciliation) {
    throw permanent('this state store keeps no control totals');
  }
  const { provider, id: connection } = ctx.connection;
  const runId = message.runId;
  const scopes = await state.runScopes(runId, connection);
  const input = reconcileInput(spec, ctx, scopes);
  const key = reconciliationKey(provider, connection, runId);
  const totals = new Totals();
  const gapsByCode: Record<string, number> = {};
  let gaps = 0;
  let documentsMissing = 0;

  const line = (record: 'gap' | 'summary', value: object) =>
    Buffer.from(`${JSON.stringify({ record, runId, provider, connection, ...value })}\n`);
  const gap = (g: Gap) => {
    gaps++;
    gapsByCode[g.code] = (gapsByCode[g.code] ?? 0) + 1;
    if (gaps <= PROBLEMS_LISTED) {
      ctx.reportProblem({ code: `gap.${g.code}`, message: describeGap(g), key });
    }
    return line('gap', g);
  };
  let summary: ReconciliationSummary | undefined;

  async function* lines(): AsyncIterable<Buffer> {
    for await (const g of state.runGaps!(runId, connection)) yield gap(g);
    for (const doc of await state.listPendingDocuments(provider, connection)) {
      documentsMissing++;
      yield gap({
        code: 'document-missing',
        scope: doc.scope,
        invoiceId: doc.invoiceId,
        field: doc.type,
        expected: doc.key,
        found: null,
        message: `${doc.type} not landed after ${doc.attempts} attempt(s): ${doc.reason}`,
      });
    }
    if (spec.reconcile) for await (const g of spec.reconcile(input)) yield gap(g);
    for (const s of listingScopes(spec, scopes)) {
      const landed = landedLine(spec, ctx, s);
      for await (const entry of input.invoices(s.scope, s.window)) totals.add(await landed(entry));
    }
    summary = {
      runId,
      provider,
      connection,
      reconciledAt: ctx.now().toISOString(),
      key,
      scopes,
      invoices: totals.invoices,
      totals: totals.rows(),
      documentsMissing,
      gaps,
      gapsByCode,
    };
    yield line('summary', summary);
  }

  await ctx.sink.putStream(key, Readable.from(lines()), {
    sourceOperation: 'reconcile',
    runId,
    fetchedAt: ctx.now().toISOString(),
    contentType: 'application/x-ndjson',
    derived: true,
  });
  await state.setReconciliation(summary!);
  ctx.count('reconciliationGaps', gaps);
  ctx.log.info('control totals', { invoices: totals.invoices, gaps, gapsByCode, key });
  if (!gaps) return;
  if (gaps > PROBLEMS_LISTED) {
    ctx.reportProblem({
      code: 'gap.more',
      message: `${gaps - PROBLEMS_LISTED} more gap(s) than listed here: every one is in ${key}`,
      key,
    });
  }
  if (ctx.connection.onReconciliationGap === 'FAILED' && state.addFailure) {
    await state.addFailure(
      runId,
      {
        at: ctx.now().toISOString(),
        connection,
        messageType: 'reconcile',
        reason: `control totals: ${gaps} gap(s) (${Object.keys(gapsByCode).join(', ')}), see ${key}`,
      },
      `reconcile#${connection}`,
    );
  }
}

/** Gaps named one by one in the run's problems (GET /runs, the local summary); the file has all of them. */
const PROBLEMS_LISTED = 20;

export function describeGap(g: Gap): string {
  const what = [g.invoiceId && `invoice ${g.invoiceId}`, g.field].filter(Boolean).join(' ');
  const values =
    g.expected !== undefined || g.found !== undefined
      ? ` (expected ${g.expected ?? 'nothing'}, found ${g.found ?? 'nothing'})`
      : '';
  return `${g.scope}${what ? ` ${what}` : ''}: ${g.message}${values}`;
}

/** Scopes whose invoices land in the table (an export's scope has none), each window once. */
function listingScopes(spec: ProviderSpec, scopes: readonly RunScope[]): RunScope[] {
  const listings = new Set(spec.jobs.filter((j) => j.kind === 'listing').map((j) => j.name));
  const seen = new Set<string>();
  return scopes.filter((s) => {
    const id = JSON.stringify([s.scope, s.window]);
    if (!listings.has(s.job) || seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/**
 * An invoice as its month file has it: the listing's publish decoration applied, a month at a time, so
 * the totals count the money a decoration brings (SP-API's comes from its NF-e XMLs, not its listing).
 */
function landedLine<C extends Connection>(
  spec: ProviderSpec<C>,
  ctx: ProviderContext<C>,
  s: RunScope,
): (entry: TableEntry) => Promise<NormalizedInvoice> {
  const job = spec.jobs.find((j) => j.name === s.job);
  const decorateFor = job?.kind === 'listing' ? job.publish?.decorate : undefined;
  if (!decorateFor) return async (entry) => entry.invoice;
  const { provider, id: connection } = ctx.connection;
  let month: string | undefined;
  let decorate: Decorate | undefined;
  return async (entry) => {
    const m = entry.invoice.issuedOn.slice(0, 7);
    if (m !== month) {
      month = m;
      decorate = await decorateFor(ctx, { provider, connection, scope: s.scope, month: m });
    }
    return decorate ? decorate(entry) : entry.invoice;
  };
}

function reconcileInput<C extends Connection>(
  spec: ProviderSpec<C>,
  ctx: ProviderContext<C>,
  scopes: readonly RunScope[],
): ReconcileInput<C> {
  const { provider, id: connection } = ctx.connection;
  return {
    ctx,
    scopes,
    async *invoices(scope: string, window: Window): AsyncIterable<TableEntry> {
      for (const month of monthsOf(window)) {
        for await (const entry of ctx.invoices.entries({ provider, connection, scope, month })) {
          const on = entry.invoice.issuedOn;
          if (on >= window.from && on <= window.to) yield entry;
        }
      }
    },
    async exportOf(name: string, scope: string, window: Window) {
      const job = spec.jobs.find((j) => j.name === name);
      if (job?.kind !== 'export') return undefined;
      return ctx.state.getExport(exportKeyOf(job, ctx, scope, window));
    },
  };
}
