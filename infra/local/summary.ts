import type { RunRecord } from '../../shared/aws/state-store.ts';
import type { Connection, ProviderId } from '../../shared/config/schema.ts';
import type { ReconciliationSummary } from '../../shared/engine/reconciliation.ts';
import type { Counter, PendingDocument } from '../../shared/providers/types.ts';
import type { ReconcileReport } from '../../shared/runtime/reconcile-runs.ts';
import type { FaultKind } from '../sandbox/framework/faults.ts';

export interface SummaryRow {
  provider: ProviderId;
  connection: string;
  status: 'SUCCEEDED' | 'PARTIAL' | 'FAILED' | 'RUNNING' | 'NOT_IMPLEMENTED' | 'NOT_STARTED';
  runId?: string;
  invoices: number;
  /** Invoices left alone: unchanged since they landed, in a final status. */
  unchanged: number;
  documents: number;
  reports: number;
  bytes: number;
  retries: number;
  throttles: number;
  defers: number;
  failures: number;
  dlqMessages: number;
  problems: number;
  /** Documents of the connection still pending in the state table after the run (later runs retry them). */
  pendingDocuments: number;
  /** Gaps the run's control totals found; absent when they were not checked (a failed run, one invoice). */
  gaps?: number;
}

/**
 * What a run costs before and besides its work: start-up (process start to the first run enqueued:
 * simulators, stand-ins, resources, bundles) plus the wall time the functions spent cold-starting
 * (loading their bundles; containers start side by side, so their summed time is given apart).
 */
export interface Timing {
  fixedCostMs: number;
  startupMs: number;
  /** Part of the start-up spent checking or building the function bundles. */
  bundleMs: number;
  /** Whether a bundle had to be built (false: all came from the cache). */
  bundlesBuilt: boolean;
  coldStarts: number;
  /** Wall time with at least one container cold-starting. */
  coldStartMs: number;
  /** Every cold start's own time, added up. */
  coldStartSumMs: number;
  /** Process start to the summary. */
  totalMs: number;
}

export interface Summary {
  /** Every run SUCCEEDED: nothing failed, nothing is pending or kept raw (`npm start` exits 0 only then). */
  ok: boolean;
  /** Nothing failed, but something is pending or was kept raw: the problems say what. */
  partial: boolean;
  rows: SummaryRow[];
  failures: Array<{ runId: string; connection: string; reason: string }>;
  /** What a run left out (pending, kept raw, not copied), and `note`s: states worth knowing that left nothing out. */
  problems: Array<{ runId: string; connection: string; code: string; message: string; note?: boolean }>;
  /** Documents still pending per connection after the runs, as the state table holds them (no links). */
  pendingDocuments: Array<
    Pick<
      PendingDocument,
      'connection' | 'scope' | 'invoiceId' | 'type' | 'attempts' | 'firstSeenAt' | 'reason'
    >
  >;
  dlq: Array<{ queue: string; connection?: string; reason?: string }>;
  out?: { dir: string; files: number; bytes: number };
  landed: Record<string, number>;
  /** Each connection's control totals, where they were checked (README "Control totals"). */
  reconciliations: ReconciliationSummary[];
  /** What the run reconciler did, when a run was still RUNNING once every queue was empty. */
  reconciled?: ReconcileReport;
  /** With --faults: the faults each simulator injected, by kind (what the run met, not what was configured). */
  faults?: Record<string, Record<FaultKind, number>>;
  /** The "Invoice run completed" events the local stack forwarded to its consumer. */
  events?: Array<{ runId: string; outcome: string; connections: string[] }>;
  /** The state directory, and whether it held an earlier run's state. */
  state?: { dir: string; reused: boolean };
  timing?: Timing;
}

const COUNTERS: Counter[] = [
  'invoices',
  'unchanged',
  'documents',
  'reports',
  'bytes',
  'retries',
  'throttles',
  'defers',
  'failures',
];

export function buildSummary(input: {
  connections: Connection[];
  runs: Map<string, RunRecord | undefined>;
  runOf: Map<string, string>;
  notImplemented: Set<string>;
  dlq: Summary['dlq'];
  landed: Record<string, number>;
  /** The state table's pending documents by connection id. */
  pendingDocuments?: Map<string, readonly PendingDocument[]>;
}): Summary {
  const rows: SummaryRow[] = [];
  const failures: Summary['failures'] = [];
  const problems: Summary['problems'] = [];
  const pendingDocuments: Summary['pendingDocuments'] = [];
  const reconciliations: ReconciliationSummary[] = [];
  for (const c of input.connections) {
    const runId = input.runOf.get(c.id);
    const run = runId ? input.runs.get(runId) : undefined;
    const counts = run?.connections[c.id] ?? {};
    const row: SummaryRow = {
      provider: c.provider,
      connection: c.id,
      status: input.notImplemented.has(c.id) ? 'NOT_IMPLEMENTED' : run ? run.status : 'NOT_STARTED',
      ...(runId ? { runId } : {}),
      invoices: 0,
      unchanged: 0,
      documents: 0,
      reports: 0,
      bytes: 0,
      retries: 0,
      throttles: 0,
      defers: 0,
      failures: 0,
      dlqMessages: input.dlq.filter((d) => d.connection === c.id).length,
      problems: 0,
      pendingDocuments: 0,
    };
    for (const d of input.pendingDocuments?.get(c.id) ?? []) {
      const { connection, scope, invoiceId, type, attempts, firstSeenAt, reason } = d;
      pendingDocuments.push({ connection, scope, invoiceId, type, attempts, firstSeenAt, reason });
      row.pendingDocuments += 1;
    }
    for (const k of COUNTERS) row[k as keyof Pick<SummaryRow, 'invoices'>] = Number(counts[k] ?? 0);
    if (run) {
      for (const f of run.failures.filter((x) => x.connection === c.id)) {
        failures.push({ runId: run.runId, connection: c.id, reason: f.reason });
      }
      for (const p of run.problems.filter((x) => x.connection === c.id)) {
        problems.push({
          runId: run.runId,
          connection: c.id,
          code: p.code,
          message: p.message,
          ...(p.note ? { note: true } : {}),
        });
      }
      row.problems = run.problems.filter((x) => x.connection === c.id).length;
      const reconciliation = run.reconciliations?.[c.id];
      if (reconciliation) {
        reconciliations.push(reconciliation);
        row.gaps = reconciliation.gaps;
      }
      // A failure recorded in the run but not attributed to a connection still fails that run's rows.
      row.failures = Math.max(row.failures, run.failures.filter((x) => x.connection === c.id).length);
    }
    // The run settles itself when its last message finishes; a row still RUNNING at idle lost track of one.
    if (row.status === 'RUNNING') row.status = row.failures || row.dlqMessages ? 'FAILED' : 'RUNNING';
    rows.push(row);
  }
  // RUNNING at idle means a message was lost track of: not a success.
  const done = (r: SummaryRow) => r.status === 'SUCCEEDED' || r.status === 'NOT_IMPLEMENTED';
  const ok = input.dlq.length === 0 && rows.every(done);
  const partial = !ok && input.dlq.length === 0 && rows.every((r) => done(r) || r.status === 'PARTIAL');
  return {
    ok,
    partial,
    rows,
    failures,
    problems,
    pendingDocuments,
    reconciliations,
    dlq: input.dlq,
    landed: input.landed,
  };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function formatTiming(t: Timing): string {
  const bundles = `bundles ${seconds(t.bundleMs)}${t.bundlesBuilt ? ', built' : ', cached'}`;
  return (
    `fixed cost: ${seconds(t.fixedCostMs)} (start-up ${seconds(t.startupMs)} with ${bundles}; ` +
    `${t.coldStarts} cold start(s) ${seconds(t.coldStartMs)}, ${seconds(t.coldStartSumMs)} added up); ` +
    `total ${seconds(t.totalMs)}`
  );
}

function human(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/**
 * One connection's control totals: a line with its gaps by code, its invoices and its file, then a line per
 * currency with the invoices and total by status.
 */
export function formatReconciliation(r: ReconciliationSummary): string[] {
  const codes = Object.entries(r.gapsByCode)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  const gaps = r.gaps ? `${r.gaps} gap(s): ${codes}` : '0 gaps';
  const out = [`${r.connection}: ${gaps}; ${r.invoices} invoice(s) in the window; ${r.key}`];
  const byCurrency = new Map<string, string[]>();
  for (const t of r.totals) {
    const currency = t.currency ?? 'no currency';
    byCurrency.set(currency, [
      ...(byCurrency.get(currency) ?? []),
      `${t.status ?? 'no status'} ${t.invoices} (${t.total ?? 'no amounts'})`,
    ]);
  }
  for (const [currency, parts] of byCurrency) out.push(`  ${currency}: ${parts.join(', ')}`);
  return out;
}

/** The reconciler's report: the runs it settled and why, each message it found unsettled in a DLQ. */
export function formatReconciled(r: ReconcileReport): string[] {
  const out = ['run reconciler (a run was still RUNNING once every queue was empty):'];
  for (const d of r.deadMessages) {
    out.push(
      `  ${d.connection}: a ${d.messageType} message of run ${d.runId} reached the ${d.queue} DLQ without being settled (timeout or out of memory?)`,
    );
  }
  for (const st of r.stopped) {
    out.push(
      `  run ${st.runId}: stopped moving with ${st.pending} message(s) pending since ${st.quietSince}`,
    );
  }
  for (const st of r.settled) out.push(`  run ${st.runId} settled ${st.status} (${st.cause})`);
  if (!r.deadMessages.length && !r.stopped.length && !r.settled.length) out.push('  nothing to settle');
  return out;
}

export function formatSummary(s: Summary): string {
  const head = [
    'provider',
    'connection',
    'status',
    'invoices',
    'unchanged',
    'docs',
    'reports',
    'bytes',
    'retries',
    'throttles',
    'defers',
    'failures',
    'DLQ',
    'gaps',
  ];
  const body = s.rows.map((r) => [
    r.provider,
    r.connection,
    r.status === 'NOT_IMPLEMENTED' ? 'not implemented' : r.status.toLowerCase(),
    String(r.invoices),
    String(r.unchanged),
    String(r.documents),
    String(r.reports),
    human(r.bytes),
    String(r.retries),
    String(r.throttles),
    String(r.defers),
    String(r.failures),
    String(r.dlqMessages),
    r.gaps === undefined ? '-' : String(r.gaps),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)];
  if (s.failures.length) {
    out.push('', 'failures:');
    for (const f of s.failures.slice(0, 20)) out.push(`  ${f.connection}: ${f.reason}`);
    if (s.failures.length > 20) out.push(`  ... and ${s.failures.length - 20} more`);
  }
  const list = (title: string, items: Summary['problems'], max: number) => {
    if (!items.length) return;
    out.push('', title);
    for (const p of items.slice(0, max)) out.push(`  ${p.connection}: ${p.code}: ${p.message}`);
    if (items.length > max) out.push(`  ... and ${items.length - max} more`);
  };
  list(
    'pending, kept raw or not adding up (the run is PARTIAL until a later run clears them):',
    s.problems.filter((p) => !p.note),
    20,
  );
  list(
    'notes (nothing left out):',
    s.problems.filter((p) => p.note),
    5,
  );
  if (s.reconciliations.length) {
    out.push('', 'control totals (reconciliation/ has every gap, one JSON line each):');
    for (const r of s.reconciliations) out.push(...formatReconciliation(r).map((l) => `  ${l}`));
  }
  if (s.pendingDocuments.length) {
    out.push(
      '',
      'pending documents (later runs try them again until they land or PENDING_DOCUMENT_MAX_AGE_DAYS pass):',
    );
    for (const r of s.rows.filter((row) => row.pendingDocuments > 0)) {
      const mine = s.pendingDocuments.filter((d) => d.connection === r.connection);
      out.push(`  ${r.connection}: ${mine.length}`);
      for (const d of mine.slice(0, 10)) {
        const since = d.firstSeenAt.slice(0, 10);
        out.push(
          `    ${d.scope} invoice ${d.invoiceId} ${d.type}, since ${since}, ${d.attempts} attempt(s); last: ${d.reason}`,
        );
      }
      if (mine.length > 10) out.push(`    ... and ${mine.length - 10} more`);
    }
  }
  if (s.dlq.length) {
    out.push('', 'dead-letter queues:');
    for (const d of s.dlq.slice(0, 20))
      out.push(`  ${d.queue}${d.connection ? ` (${d.connection})` : ''}: ${d.reason ?? 'no reason given'}`);
  }
  if (s.reconciled) out.push('', ...formatReconciled(s.reconciled));
  if (s.faults) {
    out.push('', 'faults injected by the simulators:');
    for (const [simulator, kinds] of Object.entries(s.faults)) {
      const met = Object.entries(kinds).filter(([, n]) => n > 0);
      out.push(`  ${simulator}: ${met.length ? met.map(([k, n]) => `${k} ${n}`).join(', ') : 'none'}`);
    }
  }
  const landed = Object.entries(s.landed)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  if (landed) out.push('', `objects landed: ${landed}`);
  if (s.events) {
    out.push(`run-completed events forwarded: ${s.events.length}`);
    for (const e of s.events) out.push(`  run ${e.runId} ${e.outcome} (${e.connections.join(', ')})`);
  }
  if (s.out) out.push(`output: ${s.out.dir} (${s.out.files} files, ${human(s.out.bytes)})`);
  if (s.state) out.push(`state: ${s.state.dir}${s.state.reused ? ' (kept from earlier runs)' : ''}`);
  if (s.timing) out.push(formatTiming(s.timing));
  out.push(
    s.ok
      ? 'result: ok'
      : s.partial
        ? 'result: PARTIAL (something is pending, was kept raw, or does not add up: see problems above)'
        : 'result: FAILED (see failures and dead-letter queues above)',
  );
  return out.join('\n');
}
