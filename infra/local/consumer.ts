import { EventEmitter } from 'node:events';
import type { ObjectCreatedEvent } from './notifications.ts';
import type { RunCompletedEvent } from './run-events.ts';

/**
 * The local drop consumer: what EventBridge rules on "Object Created" and on "Invoice run completed" would
 * feed. It logs each landed object and each completed run on one line, counts objects by top-level prefix
 * (the S3 layout in DESIGN.md) and keeps the run-completed events.
 */

export const TOP_LEVEL_PREFIXES = [
  'raw/',
  'documents/',
  'reports/',
  'exports/',
  'invoices/',
  'runs/',
] as const;
export type PrefixBucket = (typeof TOP_LEVEL_PREFIXES)[number] | 'other';

export interface PrefixCount {
  objects: number;
  bytes: number;
}

export interface ConsumerOptions {
  /** No log line per object. */
  quiet?: boolean;
  /** Where lines go (default: stdout). */
  log?: (line: string) => void;
}

export interface ConsumerEvents {
  object: [ObjectCreatedEvent];
  'run-completed': [RunCompletedEvent];
}

export function prefixOf(key: string): PrefixBucket {
  return TOP_LEVEL_PREFIXES.find((p) => key.startsWith(p)) ?? 'other';
}

export class LocalConsumer extends EventEmitter<ConsumerEvents> {
  private readonly byPrefix = new Map<PrefixBucket, PrefixCount>();
  private readonly completed: RunCompletedEvent[] = [];
  private readonly log: (line: string) => void;

  constructor(private readonly options: ConsumerOptions = {}) {
    super();
    this.log = options.log ?? ((line) => process.stdout.write(`${line}\n`));
  }

  /** Takes one "Object Created" event (an EventBridge target). */
  handle(event: ObjectCreatedEvent): void {
    const { key, size } = event.detail.object;
    const prefix = prefixOf(key);
    const count = this.byPrefix.get(prefix) ?? { objects: 0, bytes: 0 };
    count.objects++;
    count.bytes += size;
    this.byPrefix.set(prefix, count);
    if (!this.options.quiet) this.log(`landed s3://${event.detail.bucket.name}/${key} (${size} B)`);
    this.emit('object', event);
  }

  /** Takes one "Invoice run completed" event. */
  handleRunCompleted(event: RunCompletedEvent): void {
    this.completed.push(event);
    if (!this.options.quiet) this.log(describeRunCompleted(event));
    this.emit('run-completed', event);
  }

  /** The run-completed events received so far, in arrival order. */
  runsCompleted(): RunCompletedEvent[] {
    return [...this.completed];
  }

  /** Objects and bytes landed so far, by top-level prefix (only prefixes that saw an object). */
  counts(): Partial<Record<PrefixBucket, PrefixCount>> {
    return Object.fromEntries([...this.byPrefix].map(([p, c]) => [p, { ...c }]));
  }

  get total(): number {
    let n = 0;
    for (const c of this.byPrefix.values()) n += c.objects;
    return n;
  }
}

/** One line for a run-completed event: the run, its outcome, and what landed per connection. */
export function describeRunCompleted(event: RunCompletedEvent): string {
  const d = event.detail;
  const counts = (c: string) => {
    const n = d.counts[c] ?? {};
    const parts = [`${n.invoices ?? 0} invoices`, `${n.documents ?? 0} documents`];
    if (n.reports) parts.push(`${n.reports} reports`);
    if (n.failures) parts.push(`${n.failures} failures`);
    return `${c}: ${parts.join(', ')}`;
  };
  const window = d.window ? ` ${d.window.from}..${d.window.to}` : '';
  return `event "${event['detail-type']}": run ${d.runId} ${d.outcome}${window} (${d.connections.map(counts).join('; ')})`;
}
