import { AsyncLocalStorage } from 'node:async_hooks';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRICS } from '../../aws/resources.ts';
import type { JobMessage, PollMessage } from '../../jobs/messages.ts';
import type { Counter } from '../../providers/types.ts';
import type { FrameDeps } from './frame-deps.ts';

const { provider: PROVIDER, connection: CONNECTION } = METRICS.dimensions;

/** Counters of what a receive landed, as opposed to how it went (retries, throttles, failures). */
const LANDED: readonly Counter[] = ['invoices', 'unchanged', 'documents', 'reports', 'bytes', 'rows'];

/** The tally of the tallied work an async call runs in, if any (MessageCounters.tallied). */
const HELD = new AsyncLocalStorage<{ owner: MessageCounters; tally: Partial<Record<Counter, number>> }>();

/** One message's counters: added to its run's record and emitted as metrics once, when the message ends. */
export class MessageCounters {
  readonly counts: Partial<Record<Counter, number>> = {};
  #recorded = false;

  count = (counter: Counter, n = 1): void => {
    const held = LANDED.includes(counter) ? HELD.getStore() : undefined;
    const into = held?.owner === this ? held.tally : this.counts;
    into[counter] = (into[counter] ?? 0) + n;
  };

  /** Drops the counts of what was landed (the receive failed and SQS delivers the message again). */
  forgetLanded(): void {
    for (const c of LANDED) delete this.counts[c];
  }

  /**
   * Runs work whose landed counts (invoices, documents, bytes...) are held apart, every count made in its
   * async calls included (the sink's bytes too): they count once `keep` is called, and not at all if the work
   * fails or is not kept (ProviderContext.tallied). How it went (retries, throttles) counts either way.
   * Pieces may run at once; one inside another keeps into the outer one.
   */
  tallied = async <T>(work: () => Promise<T>): Promise<{ value: T; keep: () => void }> => {
    const tally: Partial<Record<Counter, number>> = {};
    const value = await HELD.run({ owner: this, tally }, work);
    return {
      value,
      keep: () => {
        for (const [c, n] of Object.entries(tally)) this.count(c as Counter, n);
      },
    };
  };

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
