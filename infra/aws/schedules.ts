import { Aws, Duration } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  ContextAttribute,
  Schedule,
  ScheduleExpression,
  ScheduleTargetInput,
} from 'aws-cdk-lib/aws-scheduler';
import { SqsSendMessage } from 'aws-cdk-lib/aws-scheduler-targets';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { functionForRun } from '../../shared/aws/resources.ts';
import type { Config } from '../../shared/config/schema.ts';
import { acknowledge } from './nag.ts';
import type { JobQueues } from './queues.ts';

/**
 * One EventBridge Scheduler schedule per enabled connection, putting a `run` on its provider's primary queue
 * (the function with no `job`). Other jobs of a provider are started by that function (amazon-ads-invoices
 * forwards a run to the billing statements queue), so one schedule per connection is all there is.
 */
export class RunSchedules extends Construct {
  readonly schedules: Schedule[] = [];
  /** Runs the scheduler could not deliver after its retries. */
  readonly dlq: Queue;

  constructor(scope: Construct, id: string, props: { config: Config; queues: JobQueues }) {
    super(scope, id);
    this.dlq = new Queue(this, 'undelivered-runs', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(
      this.dlq,
      'SQS3',
      'This queue is itself a dead-letter queue: the EventBridge Scheduler target DLQ of the run schedules.',
    );

    for (const connection of props.config.connections) {
      if (!connection.enabled) continue;
      const target = props.queues.get(functionForRun(connection.provider).queue);
      // A role per schedule, so each can send to its own queue (and the DLQ) and nowhere else.
      const role = new Role(this, `${connection.id}-role`, {
        assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
          conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
        }),
        description: `invoice-ingest run schedule for connection ${connection.id}`,
      });
      const schedule = new Schedule(this, connection.id, {
        description: `invoice-ingest: run ${connection.provider} connection ${connection.id}`,
        schedule: ScheduleExpression.expression(connection.schedule),
        target: new SqsSendMessage(target.queue, {
          role,
          deadLetterQueue: this.dlq,
          // A run delivered a few hours late still covers its window; past that it goes to the DLQ (alarmed).
          retryAttempts: 10,
          maxEventAge: Duration.hours(6),
          input: ScheduleTargetInput.fromObject({
            v: 1,
            type: 'run',
            runId: ContextAttribute.executionId,
            provider: connection.provider,
            connection: connection.id,
          }),
        }),
      });
      this.schedules.push(schedule);
    }
  }
}
