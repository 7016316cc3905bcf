import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Connection } from '../../shared/config/schema.ts';
import type { JobMessageInput } from '../../shared/jobs/messages.ts';
import type {
  Counter,
  ExportRecord,
  ProviderContext,
  ProviderHttp,
  Sink,
  StateStore,
  StoredObject,
} from '../../shared/providers/types.ts';
import { type MemoryInvoiceTable, tableOf } from './memory-invoice-table.ts';

/** A sink in memory: objects by key, JSONL merged by id like the S3 sink. */
export class MemorySink implements Sink {
  readonly objects = new Map<string, Buffer>();
  puts = 0;
  private store(key: string, body: Buffer): StoredObject {
    this.puts += 1;
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
  async putStream(key: string, body: Readable, meta?: { onChunk?: (chunk: Buffer) => void }) {
    const chunks: Buffer[] = [];
    for await (const c of body) {
      chunks.push(c as Buffer);
      meta?.onChunk?.(c as Buffer);
    }
    return this.store(key, Buffer.concat(chunks));
  }
  async holds(key: string, sha256: string) {
    const body = this.objects.get(key);
    return body !== undefined && createHash('sha256').update(body).digest('hex') === sha256;
  }
  async getText(key: string) {
    return this.objects.get(key)?.toString();
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

/** Watermarks and exports in memory (exports are not used by listing tests). */
export class MemoryState implements Partial<StateStore> {
  readonly watermarks = new Map<string, string>();
  readonly exports = new Map<string, ExportRecord>();
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
}

export interface MemoryContext<C extends Connection> {
  ctx: ProviderContext<C>;
  sink: MemorySink;
  state: MemoryState;
  invoices: MemoryInvoiceTable;
  sent: JobMessageInput[];
  counts: Partial<Record<Counter, number>>;
  problems: Array<{ code: string; message: string; key?: string }>;
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
  const state = opts.state ?? new MemoryState();
  // Kept with the sink: a test that makes a context per invocation of one world shares one table.
  const invoices = opts.invoices ?? tableOf(sink);
  const sent: JobMessageInput[] = [];
  const counts: Partial<Record<Counter, number>> = {};
  const problems: Array<{ code: string; message: string; key?: string }> = [];
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
    count: (c, n = 1) => {
      counts[c] = (counts[c] ?? 0) + n;
    },
    reportProblem: (p) => {
      problems.push(p);
    },
    budget: { deadline: Date.now() + remaining(), remainingMs: remaining },
    now: () => opts.now ?? new Date('2026-03-15T12:00:00Z'),
  };
  return { ctx, sink, state, invoices, sent, counts, problems };
}
