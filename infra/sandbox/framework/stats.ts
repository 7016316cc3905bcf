import type { FaultCounts } from './faults.ts';

/** Per-operation counters a simulator exposes at GET /__sandbox/stats (tests and the local run summary). */

export interface OperationStats {
  requests: number;
  /** 429 answers: the rate limiter's and injected bursts. */
  throttled: number;
  /** Answers by status code; "reset" counts connections reset instead of answered. */
  statuses: Record<string, number>;
}

export interface SimStats {
  name: string;
  url: string;
  requests: number;
  throttled: number;
  operations: Record<string, OperationStats>;
  faults: FaultCounts;
}

export class SimStatsRecorder {
  private readonly operations: Record<string, OperationStats> = {};

  constructor(private readonly name: string) {}

  private op(operation: string): OperationStats {
    this.operations[operation] ??= { requests: 0, throttled: 0, statuses: {} };
    return this.operations[operation];
  }

  requested(operation: string): void {
    this.op(operation).requests += 1;
  }

  throttled(operation: string): void {
    this.op(operation).throttled += 1;
  }

  answered(operation: string, status: number | 'reset'): void {
    const statuses = this.op(operation).statuses;
    statuses[status] = (statuses[status] ?? 0) + 1;
  }

  snapshot(url: string, faults: FaultCounts): SimStats {
    const operations = structuredClone(this.operations);
    const all = Object.values(operations);
    return {
      name: this.name,
      url,
      requests: all.reduce((n, o) => n + o.requests, 0),
      throttled: all.reduce((n, o) => n + o.throttled, 0),
      operations,
      faults,
    };
  }
}
