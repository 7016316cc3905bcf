import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ILogGroup } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS, QUEUE_FED_FUNCTIONS, RECONCILER_FUNCTION } from '../../shared/aws/resources.ts';
import type { ProviderId } from '../../shared/config/schema.ts';
import type { IngestFunction } from './functions.ts';

const PERIOD = Duration.minutes(5);
const { provider: PROVIDER, connection: CONNECTION, status: STATUS, cause: CAUSE } = METRICS.dimensions;
/** Statuses a run can settle with; PARTIAL arrives with partial runs, its lines and alarm are ready for it. */
const OUTCOMES = ['SUCCEEDED', 'FAILED', 'PARTIAL'] as const;
/** Where each alarm's description points for what to do: README.md, section Operations, runbook entry Rn. */
const runbook = (n: number) => `README.md, Operations, runbook R${n}`;

export interface MonitoredDlq {
  name: string;
  queue: Queue;
  /** What lands there, for the alarm's description. */
  holds: string;
  /** The log group that tells why (the function the queue feeds). */
  logGroup?: ILogGroup;
}

export interface MonitoringProps {
  /** Providers with at least one connection: the dashboard and provider alarms cover these. */
  providers: readonly ProviderId[];
  /** Every configured connection: the dashboard draws a line per connection. */
  connections: ReadonlyArray<{ id: string; provider: ProviderId }>;
  functions: readonly IngestFunction[];
  /** Every dead-letter queue. */
  dlqs: readonly MonitoredDlq[];
  /** Where every run-completed event is kept (infra/aws/run-events.ts). */
  completedRuns: ILogGroup;
}

/**
 * Alarms on anything that needs a person, each saying where to look first, and a dashboard per provider
 * and connection. Every custom metric read here has the namespace, name and dimension set the functions
 * emit (METRICS); test/integration/metric-match.test.ts runs the functions and checks it.
 */
export class Monitoring extends Construct {
  readonly topic: Topic;
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    // CloudWatch cannot publish to a topic under the AWS-managed SNS key, so TLS is enforced instead.
    this.topic = new Topic(this, 'Alarms', { displayName: 'invoice-ingest alarms', enforceSSL: true });
    const action = new SnsAction(this.topic);
    const alarm = (name: string, metric: IMetric, description: string) => {
      const a = new Alarm(this, name, {
        metric,
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      a.addAlarmAction(action);
      this.alarms.push(a);
    };
    const logGroupOf = (name: string) => props.functions.find((f) => f.name === name)?.fn.logGroup;
    const providerFunctionLogs = (provider: ProviderId) =>
      QUEUE_FED_FUNCTIONS.filter((f) => f.provider === provider)
        .map((f) => logGroupOf(f.name)?.logGroupName)
        .filter((n): n is string => Boolean(n))
        .join(', ');

    for (const { name, queue, holds, logGroup } of props.dlqs) {
      alarm(
        `${name}-dlq-messages`,
        queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' }),
        `Messages wait in the ${name} dead-letter queue (${queue.queueName}): ${holds}. First: read a ` +
          `message's "reason" attribute${logGroup ? `, then the log group ${logGroup.logGroupName} around the time it arrived` : ''}; ` +
          `fix the cause, then redrive. ${runbook(1)}.`,
      );
    }
    for (const { name, fn } of props.functions) {
      alarm(
        `${name}-errors`,
        fn.metricErrors({ period: PERIOD }),
        `${name} invocations failed. First: the log group ${fn.logGroup.logGroupName}, lines at level ERROR ` +
          `(each names the run, connection and provider). ${runbook(2)}.`,
      );
      alarm(
        `${name}-throttles`,
        fn.metricThrottles({ period: PERIOD }),
        `Lambda throttled ${name} (the account's concurrency is used up; its messages wait in the queue). ` +
          `${runbook(3)}.`,
      );
    }

    const metric = (name: string, dimensions: Record<string, string>, statistic = 'Sum', label?: string) =>
      new Metric({
        namespace: METRICS.namespace,
        metricName: name,
        dimensionsMap: dimensions,
        statistic,
        period: PERIOD,
        ...(label ? { label } : {}),
      });
    const outcome = (status: string, provider?: ProviderId) =>
      metric(
        METRICS.names.runsCompleted,
        provider ? { [STATUS]: status, [PROVIDER]: provider } : { [STATUS]: status },
        'Sum',
        status,
      );

    alarm(
      'runs-failed-or-partial',
      new MathExpression({
        expression: 'FILL(failed, 0) + FILL(partial, 0)',
        usingMetrics: { failed: outcome('FAILED'), partial: outcome('PARTIAL') },
        period: PERIOD,
        label: 'runs ended FAILED or PARTIAL',
      }),
      `A run ended FAILED or PARTIAL. First: the log group ${props.completedRuns.logGroupName} has one event ` +
        `per run with its outcome and failure count; then GET /runs/{runId} for the reasons. ${runbook(4)}.`,
    );

    // A run the reconciler settled had lost track of a message: FAILED already alarms above, this says why.
    const reconcilerLogs = logGroupOf(RECONCILER_FUNCTION)?.logGroupName ?? `of ${RECONCILER_FUNCTION}`;
    alarm(
      'runs-reconciled',
      new MathExpression({
        expression: 'FILL(dlq, 0) + FILL(stopped, 0)',
        usingMetrics: {
          dlq: metric(METRICS.names.runsReconciled, { [CAUSE]: 'DLQ' }, 'Sum', 'DLQ'),
          stopped: metric(METRICS.names.runsReconciled, { [CAUSE]: 'STOPPED' }, 'Sum', 'STOPPED'),
        },
        period: PERIOD,
        label: 'runs settled by the reconciler',
      }),
      `The run reconciler settled a run whose messages stopped moving (cause DLQ: a message reached a ` +
        `dead-letter queue unrecorded, its function timed out or ran out of memory; STOPPED: nothing of the ` +
        `run moved for longer than RUN_STALE_AFTER_MINUTES). First: the log group ${reconcilerLogs}, lines ` +
        `"run settled by the reconciler" and the ones before them. ${runbook(9)}.`,
    );

    const exporting = new Set(QUEUE_FED_FUNCTIONS.filter((f) => f.startsExports).map((f) => f.provider));
    const pollerLogs = logGroupOf('export-poller')?.logGroupName ?? 'of export-poller';
    for (const provider of props.providers) {
      if (exporting.has(provider)) {
        alarm(
          `${provider}-exports-failed`,
          metric(METRICS.names.exportsFailed, { [PROVIDER]: provider }),
          `A ${provider} export failed or passed its deadline. First: the log group ${pollerLogs}, ` +
            `message "export did not finish" (its code says which). ${runbook(5)}.`,
        );
        alarm(
          `${provider}-exports-expired`,
          metric(METRICS.names.exportsExpired, { [PROVIDER]: provider }),
          `A ${provider} export was still not done at its deadline, and the poller gave up on it. First: the ` +
            `log group ${pollerLogs}, code DEADLINE, then the provider's status of that export. ${runbook(6)}.`,
        );
      }
      // Emitted by the handler frame (the loop guard) and by each connection's control totals (every checked
      // run, 0 included); missing data is not breaching.
      alarm(
        `${provider}-loop-guarded`,
        metric(METRICS.names.loopGuarded, { [PROVIDER]: provider }),
        `A ${provider} message was stopped by the loop guard (it had come round too often). First: the log ` +
          `group(s) ${providerFunctionLogs(provider)}, the guard's line names the run and message. ${runbook(7)}.`,
      );
      alarm(
        `${provider}-reconciliation-gaps`,
        metric(METRICS.names.reconciliationGaps, { [PROVIDER]: provider }),
        `What landed for a ${provider} run does not add up to the provider's control totals. First: the run's ` +
          `problems (GET /runs/{runId}), then the log group(s) ${providerFunctionLogs(provider)}. ${runbook(8)}.`,
      );
    }

    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.days(7) });
    for (const provider of props.providers) this.addProviderRow(provider, props, metric, outcome);
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Dead-letter queue depth',
        width: 12,
        left: props.dlqs.map(({ name, queue }) =>
          queue.metricApproximateNumberOfMessagesVisible({
            period: PERIOD,
            statistic: 'Maximum',
            label: name,
          }),
        ),
      }),
      new AlarmStatusWidget({ title: 'Alarms', width: 12, alarms: this.alarms }),
    );
  }

  /** One provider: its counters with a line per connection, run outcomes, and its exports' age. */
  private addProviderRow(
    provider: ProviderId,
    props: MonitoringProps,
    metric: (name: string, dimensions: Record<string, string>, statistic?: string, label?: string) => Metric,
    outcome: (status: string, provider?: ProviderId) => Metric,
  ): void {
    const connections = props.connections.filter((c) => c.provider === provider).map((c) => c.id);
    const perConnection = (counter: keyof typeof METRICS.names, statistic = 'Sum') =>
      connections.map((c) =>
        metric(
          METRICS.names[counter],
          { [PROVIDER]: provider, [CONNECTION]: c },
          statistic,
          `${c} ${METRICS.names[counter]}`,
        ),
      );
    const writesReports = QUEUE_FED_FUNCTIONS.some(
      (f) => f.provider === provider && f.writes.some((w) => w.startsWith('reports/')),
    );
    const exports = QUEUE_FED_FUNCTIONS.some((f) => f.provider === provider && f.startsExports);
    this.dashboard.addWidgets(
      new TextWidget({ markdown: `## ${provider}`, width: 24, height: 1 }),
      new GraphWidget({
        title: `${provider}: invoices and documents`,
        width: 6,
        left: [
          ...perConnection('invoices'),
          ...perConnection('documents'),
          ...(writesReports ? perConnection('reports') : []),
        ],
      }),
      new GraphWidget({ title: `${provider}: bytes copied`, width: 6, left: perConnection('bytes') }),
      new GraphWidget({
        title: `${provider}: retries, throttles, defers`,
        width: 6,
        left: [...perConnection('retries'), ...perConnection('throttles'), ...perConnection('defers')],
      }),
      new GraphWidget({
        title: `${provider}: run outcomes`,
        width: 6,
        left: OUTCOMES.map((s) => outcome(s, provider)),
      }),
    );
    if (exports) {
      this.dashboard.addWidgets(
        new GraphWidget({
          title: `${provider}: age of exports being polled (max, seconds)`,
          width: 12,
          left: perConnection('exportAge', 'Maximum'),
        }),
        new GraphWidget({
          title: `${provider}: exports failed and expired`,
          width: 12,
          left: [
            metric(METRICS.names.exportsFailed, { [PROVIDER]: provider }, 'Sum', 'failed'),
            metric(METRICS.names.exportsExpired, { [PROVIDER]: provider }, 'Sum', 'expired'),
          ],
        }),
      );
    }
  }
}
