import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS, QUEUE_FED_FUNCTIONS } from '../../shared/aws/resources.ts';
import type { ProviderId } from '../../shared/config/schema.ts';
import type { IngestFunction } from './functions.ts';

const PERIOD = Duration.minutes(5);

export interface MonitoringProps {
  /** Providers with at least one connection: the dashboard and export alarms cover these. */
  providers: readonly ProviderId[];
  functions: readonly IngestFunction[];
  /** Every dead-letter queue, by a readable name. */
  dlqs: ReadonlyArray<{ name: string; queue: Queue }>;
}

/** Alarms on anything that needs a person (DLQ messages, errors, throttles, failed exports) and a dashboard. */
export class Monitoring extends Construct {
  readonly topic: Topic;
  readonly dashboard: Dashboard;

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
    };

    for (const { name, queue } of props.dlqs) {
      alarm(
        `${name}-dlq-messages`,
        queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' }),
        `Messages wait in the ${name} dead-letter queue: look at the reason, fix, redrive.`,
      );
    }
    for (const { name, fn } of props.functions) {
      alarm(`${name}-errors`, fn.metricErrors({ period: PERIOD }), `${name} failed invocations.`);
      alarm(
        `${name}-throttles`,
        fn.metricThrottles({ period: PERIOD }),
        `${name} invocations were throttled.`,
      );
    }

    const providerMetric = (provider: ProviderId, name: string) =>
      new Metric({
        namespace: METRICS.namespace,
        metricName: name,
        dimensionsMap: { [METRICS.dimensions.provider]: provider },
        statistic: 'Sum',
        period: PERIOD,
      });

    const exporting = new Set(QUEUE_FED_FUNCTIONS.filter((f) => f.startsExports).map((f) => f.provider));
    for (const provider of props.providers.filter((p) => exporting.has(p))) {
      alarm(
        `${provider}-exports-failed`,
        providerMetric(provider, METRICS.names.exportsFailed),
        `${provider} exports failed or passed their deadline.`,
      );
    }

    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.days(7) });
    for (const provider of props.providers) {
      this.dashboard.addWidgets(
        new GraphWidget({
          title: provider,
          width: 12,
          left: [METRICS.names.invoices, METRICS.names.retries, METRICS.names.throttles].map((n) =>
            providerMetric(provider, n),
          ),
          right: [providerMetric(provider, METRICS.names.bytes)],
        }),
      );
    }
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Dead-letter queue depth',
        width: 24,
        left: props.dlqs.map(({ name, queue }) =>
          queue.metricApproximateNumberOfMessagesVisible({
            period: PERIOD,
            statistic: 'Maximum',
            label: name,
          }),
        ),
      }),
    );
  }
}
