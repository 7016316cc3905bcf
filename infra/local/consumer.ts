import { EventEmitter } from 'node:events';
import type { ObjectCreatedEvent } from './notifications.ts';

/**
 * The local drop consumer: what an EventBridge rule on "Object Created" would feed. It logs each landed
 * object on one line and counts them by top-level prefix (the S3 layout in DESIGN.md).
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
}

export function prefixOf(key: string): PrefixBucket {
  return TOP_LEVEL_PREFIXES.find((p) => key.startsWith(p)) ?? 'other';
}

export class LocalConsumer extends EventEmitter<ConsumerEvents> {
  private readonly byPrefix = new Map<PrefixBucket, PrefixCount>();
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
