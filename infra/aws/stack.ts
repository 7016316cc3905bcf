import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY } from 'aws-cdk-lib/cx-api';
import type { Construct } from 'constructs';
import type { Config, ProviderId } from '../../shared/config/schema.ts';
import { RunsApi } from './api.ts';
import { writeBundledConfig } from './bundled-config.ts';
import { Functions } from './functions.ts';
import { InvoiceQueries } from './invoice-queries.ts';
import { InvoiceTable, projectionStart } from './invoice-table.ts';
import { Monitoring } from './monitoring.ts';
import { JobQueues } from './queues.ts';
import { ReconcilerSchedule } from './reconciler-schedule.ts';
import { RunEvents } from './run-events.ts';
import { RunSchedules } from './schedules.ts';
import { ConnectionSecrets } from './secrets.ts';
import { Storage } from './storage.ts';

export interface InvoiceIngestStackProps extends StackProps {
  /** The validated connections config (shared/config/load.ts). */
  config: Config;
}

/**
 * The whole deployable: storage, the invoices table and its Athena workgroup, queues, functions, schedules, API,
 * secrets, alarms. Environment-agnostic.
 */
export class InvoiceIngestStack extends Stack {
  readonly storage: Storage;
  readonly queues: JobQueues;
  readonly functions: Functions;
  readonly schedules: RunSchedules;
  readonly reconcilerSchedule: ReconcilerSchedule;
  readonly api: RunsApi;
  readonly runEvents: RunEvents;
  readonly monitoring: Monitoring;
  readonly invoices: InvoiceTable;
  readonly queries: InvoiceQueries;

  constructor(scope: Construct, id: string, props: InvoiceIngestStackProps) {
    super(scope, id, props);
    // Log delivery through the bucket policy, not the LogDeliveryWrite ACL: ACLs are disabled on new buckets.
    this.node.setContext(S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    const { config } = props;

    this.storage = new Storage(this, 'Storage');
    this.invoices = new InvoiceTable(this, 'InvoiceTable', {
      bucket: this.storage.bucket,
      firstIssueMonth: projectionStart(config.connections.map((c) => c.backfillFrom)),
    });
    this.queries = new InvoiceQueries(this, 'InvoiceQueries', {
      invoices: this.invoices,
      bucket: this.storage.bucket,
      accessLogs: this.storage.accessLogs,
    });
    this.queues = new JobQueues(this, 'Queues', { config });
    const secrets = new ConnectionSecrets(this, 'Secrets', { config });
    this.runEvents = new RunEvents(this, 'RunEvents');
    this.functions = new Functions(this, 'Functions', {
      config,
      bundledConfigFile: writeBundledConfig(this, config),
      bucket: this.storage.bucket,
      table: this.storage.table,
      queues: this.queues,
      secrets,
      runEvents: this.runEvents,
    });
    this.schedules = new RunSchedules(this, 'Schedules', { config, queues: this.queues });
    this.reconcilerSchedule = new ReconcilerSchedule(this, 'Reconciler', {
      handler: this.functions.reconciler.fn,
    });
    this.api = new RunsApi(this, 'Api', { handler: this.functions.runsApi.fn });

    const providers = [...new Set(config.connections.map((c) => c.provider))] as ProviderId[];
    this.monitoring = new Monitoring(this, 'Monitoring', {
      providers,
      connections: config.connections,
      functions: this.functions.all(),
      dlqs: [
        ...this.queues.all().map((q) => {
          const fed = this.functions.queueFed.find((f) => f.queue?.id === q.id);
          return {
            name: q.id,
            queue: q.dlq,
            holds: `messages ${fed?.name ?? q.id} could not process`,
            ...(fed ? { logGroup: fed.fn.logGroup } : {}),
          };
        }),
        {
          name: 'schedule-runs',
          queue: this.schedules.dlq,
          holds: 'scheduled runs EventBridge Scheduler could not put on their queue',
        },
        {
          name: 'run-events',
          queue: this.runEvents.dlq,
          holds: 'run-completed events the pipe could not put on the default event bus',
        },
      ],
      completedRuns: this.runEvents.logGroup,
    });

    new CfnOutput(this, 'BucketName', { value: this.storage.bucket.bucketName });
    new CfnOutput(this, 'TableName', { value: this.storage.table.tableName });
    new CfnOutput(this, 'ApiUrl', { value: this.api.api.url });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.topic.topicArn });
    new CfnOutput(this, 'DashboardName', { value: this.monitoring.dashboard.dashboardName });
    new CfnOutput(this, 'CompletedRunsLogGroup', { value: this.runEvents.logGroup.logGroupName });
    new CfnOutput(this, 'InvoiceDatabase', { value: this.invoices.database.databaseName });
    new CfnOutput(this, 'QueryWorkGroup', { value: this.queries.workGroup.name });
    new CfnOutput(this, 'QueryResultsBucket', { value: this.queries.results.bucketName });
    new CfnOutput(this, 'AnalystPolicyArn', { value: this.queries.analystPolicy.managedPolicyArn });
    for (const q of this.queues.all()) {
      new CfnOutput(this, `QueueUrl-${q.id}`, { value: q.queue.queueUrl, description: `queue ${q.id}` });
    }
  }
}
