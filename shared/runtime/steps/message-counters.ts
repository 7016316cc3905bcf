import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRICS } from '../../aws/resources.ts';
import type { JobMessage } from '../../jobs/messages.ts';
import type { Counter } from '../../providers/types.ts';
import type { FrameDeps } from './frame-deps.ts';

/** One message's counters: added to its run's record and emitted as metrics once, when the message ends. */
export class MessageCounters {
  readonly counts: Partial<Record<Counter, number>> = {};
  #recorded = false;

  count = (counter: Counter, n = 1): void => {
    this.counts[counter] = (this.counts[counter] ?? 0) + n;
  };

  /** Records the counters in the run and as metrics; a second call (after a late failure) does nothing. */
  async record(deps: FrameDeps, message: JobMessage): Promise<void> {
    if (this.#recorded) return;
    this.#recorded = true;
    deps.metrics.addDimension(METRICS.dimension, message.provider);
    deps.metrics.addMetric(METRICS.names.records, MetricUnit.Count, 1);
    for (const [c, n] of Object.entries(this.counts)) {
      const name = METRICS.names[c as Counter];
      if (name && n) deps.metrics.addMetric(name, c === 'bytes' ? MetricUnit.Bytes : MetricUnit.Count, n);
    }
    await deps.state.addCounts(message.runId, message.connection, { ...this.counts });
  }
}
