import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Connection } from '../../shared/config/schema.ts';
import type { Gap, ReconciliationSummary, RunScope } from '../../shared/engine/reconciliation.ts';
import type { JobMessageInput } from '../../shared/jobs/messages.ts';
import type {
  Counter,
  ExportRecord,
  PendingDocument,
  PendingDocumentId,
  PendingDocumentMiss,
  ProviderContext,
  ProviderHttp,
  Sink,
  StateStore,
  StoredObject,
} from '../../shared/providers/types.ts';
import { MessageCounters } from '../../shared/runtime/steps/message-counters.ts';
import { type MemoryInvoiceTable, tableOf } from './memory-invoice-table.ts';

/** A sink in memory: objects by key, JSONL merged by id like the S3 sink. */
export class MemorySink implements Sink {
  readonly objects = new Map<string, Buffer>();
  puts = 0;
  /** Keys written (a PUT each) and asked for with holds (a HEAD each), in order. */
  readonly written: string[] = [];
  readonly asked: string[] = [];
  private store(key: string, body: Buffer): StoredObject {
    this.puts += 1;
    this.written.push(key);
    this.objects.set(key, body);
    return { key, sha256: createHash('sha256').update(body).digest('hex'), bytes: body.length };
  }
  async putJson(key: string, value: unknown) {
    return this.store(key, Buffer.from(JSON.stringify(value)));
  }
  async mergeJsonl<T extends Record<string, unknown>>(
    key: string,
    records: readonly T[],
    idField: keyof T & string,
  ) {
    const byId = new Map<string, string>();
    for (const line of (this.objects.get(key)?.toString() ?? '').split('\n').filter(Boolean)) {
      byId.set(String((JSON.parse(line) as Record<string, unknown>)[idField]), line);
    }
    for (const r of records) byId.set(String(r[idField]), JSON.stringify(r));
    return this.store(key, Buffer.from(`${[...byId.values()].join('\n')}\n`));
  }
  async putStream(
    key: string,
    body: Readable,
    meta?: { onChunk?: (chunk: Buffer) => void; sameAs?: string; runId?: string },
  ) {
    const chunks: Buffer[] = [];
    for await (const c of body as AsyncIterable<Buffer | string>) {
      const chunk = typeof c === 'string' ? Buffer.from(c) : c;
      chunks.push(chunk);
      meta?.onChunk?.(chunk);
    }
    if (meta?.sameAs) this.sameAs.set(key, meta.sameAs);
    else this.sameAs.delete(key);
    if (meta?.runId) this.runIds.set(key, meta.runId);
    else this.runIds.delete(key);
    return this.store(key, Buffer.concat(chunks));
  }
  /** ObjectMeta.sameAs of each object written with one. */
  readonly sameAs = new Map<string, string>();
  /** ObjectMeta.runId of each object streamed with one. */
  readonly runIds = new Map<string, string>();
  async holds(key: string, sha256: string, sameAs?: string) {
    this.asked.push(key);
    const body = this.objects.get(key);
    if (body === undefined) return undefined;
    const same =
      (sameAs !== undefined && this.sameAs.get(key) === sameAs) ||
      createHash('sha256').update(body).digest('hex') === sha256;
    if (!same) return undefined;
    const runId = this.runIds.get(key);
    return runId ? { runId } : {};
  }
  async getText(key: string) {
    return this.objects.get(key)?.toString();
  }
  /** In small chunks, so a reader meets records cut across chunk boundaries as it does from S3. */
  async getStream(key: string) {
    const body = this.objects.get(key);
    if (!body) return undefined;
    const chunks: Buffer[] = [];
    for (let at = 0; at < body.length; at += 7) chunks.push(body.subarray(at, at + 7));
    return Readable.from(chunks);
  }
  text(key: string): string | undefined {
    return this.objects.get(key)?.toString();
  }
  /** Every normalized line under invoices/. */
  lines(): Array<Record<string, unknown>> {
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith('invoices/'))
      .flatMap(([, v]) => v.toString().split('\n').filter(Boolean))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

const pendingId = (d: PendingDocumentId) =>
  [d.provider, d.connection, d.scope, d.invoiceId, d.name].join('|');

/** Watermarks, exports and pending documents in memory (exports are not used by listing tests). */
export class MemoryState implements Partial<StateStore> {
  readonly watermarks = new Map<string, string>();
  readonly exports = new Map<string, ExportRecord>();
  /** Pending documents by provider|connection|scope|invoiceId|name, as the state table keeps them. */
  readonly pendingDocuments = new Map<string, PendingDocument>();
  /** The state table's clock (first-seen and last-tried times): real time unless a test moves it. */
  now: () => Date = () => new Date();

  async listPendingDocuments(provider: string, connection: string, scope?: string) {
    return [...this.pendingDocuments.values()]
      .filter(
        (d) =>
          d.provider === provider &&
          d.connection === connection &&
          (scope === undefined || d.scope === scope),
      )
      .sort((a, b) => a.lastTriedAt.localeCompare(b.lastTriedAt))
      .map((d) => ({ ...d }));
  }
  async recordPendingDocument(miss: PendingDocumentMiss, runId: string) {
    const at = this.now().toISOString();
    const known = this.pendingDocuments.get(pendingId(miss));
    const record: PendingDocument = {
      ...miss,
      attempts: (known?.attempts ?? 0) + 1,
      firstSeenAt: known?.firstSeenAt ?? at,
      firstRunId: known?.firstRunId ?? runId,
      lastTriedAt: at,
      lastRunId: runId,
    };
    this.pendingDocuments.set(pendingId(miss), record);
    return { ...record };
  }
  async deletePendingDocument(id: PendingDocumentId) {
    return this.pendingDocuments.delete(pendingId(id));
  }
  async getWatermark(provider: string, connection: string, scope: string) {
    return this.watermarks.get(`${provider}|${connection}|${scope}`);
  }
  async setWatermark(provider: string, connection: string, scope: string, date: string) {
    const key = `${provider}|${connection}|${scope}`;
    if ((this.watermarks.get(key) ?? '') < date) this.watermarks.set(key, date);
  }
  async getExport(key: string) {
    return this.exports.get(key);
  }

  /** Control totals (shared/aws/run-controls.ts), keyed as the state table keys them. */
  readonly scopes: Array<{ runId: string; connection: string } & RunScope> = [];
  readonly gaps = new Map<string, Gap>();
  readonly reconciliations: ReconciliationSummary[] = [];
  readonly failures: Array<{ runId: string; connection: string; reason: string }> = [];

  async addRunScope(runId: string, connection: string, scope: RunScope) {
    this.scopes.push({ runId, connection, ...scope });
  }
  async runScopes(runId: string, connection: string) {
    return this.scopes
      .filter((s) => s.runId === runId && s.connection === connection)
      .map(({ job, scope, window }) => ({ job, scope, window }));
  }
  async addGap(runId: string, connection: string, gap: Gap) {
    this.gaps.set([runId, connection, gap.scope, gap.invoiceId, gap.code, gap.field].join('|'), gap);
  }
  async *runGaps(runId: string, connection: string): AsyncIterable<Gap> {
    for (const [key, gap] of this.gaps) if (key.startsWith(`${runId}|${connection}|`)) yield gap;
  }
  async setReconciliation(summary: ReconciliationSummary) {
    this.reconciliations.push(summary);
  }
  async addFailure(runId: string, failure: { connection: string; reason: string }) {
    this.failures.push({ runId, connection: failure.connection, reason: failure.reason });
  }
}

/** A test's own state object with the in-memory pending documents added (the engine asks for them on every listing). */
export function withMemoryPendingDocuments<T extends object>(
  state: T,
  pending: MemoryState = new MemoryState(),
): T & Pick<StateStore, 'listPendingDocuments' | 'recordPendingDocument' | 'deletePendingDocument'> {
  return Object.assign(state, {
    listPendingDocuments: pending.listPendingDocuments.bind(pending),
    recordPendingDocument: pending.recordPendingDocument.bind(pending),
    deletePendingDocument: pending.deletePendingDocument.bind(pending),
  }) as T & Pick<StateStore, 'listPendingDocuments' | 'recordPendingDocument' | 'deletePendingDocument'>;
}

export interface MemoryContext<C extends Connection> {
  ctx: ProviderContext<C>;
  sink: MemorySink;
  state: MemoryState;
  invoices: MemoryInvoiceTable;
  sent: JobMessageInput[];
  counts: Partial<Record<Counter, number>>;
  problems: Array<{ code: string; message: string; key?: string; note?: boolean }>;
}

/** A provider context with everything in memory; `remainingMs` drives the budget. */
export function memoryContext<C extends Connection>(
  connection: C,
  opts: {
    http?: ProviderHttp;
    remainingMs?: () => number;
    sink?: MemorySink;
    state?: MemoryState;
    invoices?: MemoryInvoiceTable;
    now?: Date;
  } = {},
): MemoryContext<C> {
  const sink = opts.sink ?? new MemorySink();
  const now = opts.now ?? new Date('2026-03-15T12:00:00Z');
  // A state made here keeps the context's time, so ages of pending documents agree with the engine's.
  const state = opts.state ?? Object.assign(new MemoryState(), { now: () => now });
  // Kept with the sink: a test that makes a context per invocation of one world shares one table.
  const invoices = opts.invoices ?? tableOf(sink);
  const sent: JobMessageInput[] = [];
  // The frame's own counters: what the engine's tallied work lands counts only once it is kept.
  const counters = new MessageCounters();
  const counts = counters.counts;
  const problems: Array<{ code: string; message: string; key?: string; note?: boolean }> = [];
  const remaining = opts.remainingMs ?? (() => 600_000);
  const quiet = () => {};
  const ctx: ProviderContext<C> = {
    connection,
    runId: 'run-test',
    secret: {},
    http:
      opts.http ??
      ({
        request: async () => {
          throw new Error('no http in this test');
        },
        download: async () => {
          throw new Error('no http in this test');
        },
      } as ProviderHttp),
    sink,
    state: state as unknown as StateStore,
    invoices,
    queue: {
      send: async (m) => {
        sent.push(m);
      },
      sendBatch: async (ms) => {
        sent.push(...ms);
      },
    },
    log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    count: counters.count,
    tallied: counters.tallied,
    reportProblem: (p) => {
      problems.push(p);
    },
    reportGap: (gap) => {
      void state.addGap('run-test', connection.id, gap);
    },
    budget: { deadline: Date.now() + remaining(), remainingMs: remaining },
    now: () => now,
  };
  return { ctx, sink, state, invoices, sent, counts, problems };
}
