import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRICS } from '../../aws/resources.ts';
import type { JobMessage, PollMessage } from '../../jobs/messages.ts';
import type { Counter } from '../../providers/types.ts';
import type { FrameDeps } from './frame-deps.ts';

const { provider: PROVIDER, connection: CONNECTION } = METRICS.dimensions;

/** Counters of what a receive landed, as opposed to how it went (retries, throttles, failures). */
const LANDED: readonly Counter[] = ['invoices', 'unchanged', 'documents', 'reports', 'bytes', 'rows'];

/** One message's counters: added to its run's record and emitted as metrics once, when the message ends. */
export class MessageCounters {
  readonly counts: Partial<Record<Counter, number>> = {};
  #recorded = false;

  count = (counter: Counter, n = 1): void => {
    this.counts[counter] = (this.counts[counter] ?? 0) + n;
  };

  /** Drops the counts of what was landed (the receive failed and SQS delivers the message again). */
  forgetLanded(): void {
    for (const c of LANDED) delete this.counts[c];
  }

  /**
   * Records the counters in the run and as metrics; a second call (after a late failure) does nothing. The
   * metrics are published here, as one EMF line under the dimension sets of METRICS: `provider` is a default
   * dimension for that one line only (Powertools warns about a key shared by two added sets, and a default
   * left behind would tag the next message's metrics), and Powertools' own `service` default is dropped.
   */
  async record(deps: FrameDeps, message: JobMessage, now: Date = new Date()): Promise<void> {
    if (this.#recorded) return;
    this.#recorded = true;
    const { metrics } = deps;
    metrics.clearDefaultDimensions();
    try {
      metrics.setDefaultDimensions({ [PROVIDER]: message.provider });
      metrics.addDimensions({});
      metrics.addDimensions({ [CONNECTION]: message.connection });
      metrics.addMetric(METRICS.names.records, MetricUnit.Count, 1);
      for (const [c, n] of Object.entries(this.counts)) {
        const name = METRICS.names[c as Counter];
        // A connection's control totals count their gaps even when there are none: the alarm then has
        // data for every checked run, and a run whose totals were not checked shows as missing data.
        if (name && (n || c === 'reconciliationGaps')) {
          metrics.addMetric(name, c === 'bytes' ? MetricUnit.Bytes : MetricUnit.Count, n);
        }
      }
      if (message.type === 'poll') await this.#pollMetrics(deps, message, now);
      metrics.publishStoredMetrics();
    } finally {
      metrics.clearDefaultDimensions();
    }
    await deps.state.addCounts(message.runId, message.connection, { ...this.counts });
  }

  async #pollMetrics(deps: FrameDeps, message: PollMessage, now: Date): Promise<void> {
    const age = Math.max(0, Math.round((now.getTime() - Date.parse(message.createdAt)) / 1000));
    deps.metrics.addMetric(METRICS.names.exportAge, MetricUnit.Seconds, age);
    // The poller counts a failed export the same whether the provider failed it or its deadline passed;
    // the registry tells the two apart (EXPIRED), and only a failed poll pays for the read. Should the read
    // fail, ExportsFailed still alarms.
    if (!this.counts.exportsFailed) return;
    const record = await deps.state.getExport(message.exportKey).catch(() => undefined);
    if (record?.state === 'EXPIRED')
      deps.metrics.addMetric(METRICS.names.exportsExpired, MetricUnit.Count, 1);
  }
}
