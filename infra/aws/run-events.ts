import { ArnFormat, Aws, Duration, Stack } from 'aws-cdk-lib';
import { EventBus, type IRuleTarget, Rule } from 'aws-cdk-lib/aws-events';
import { type IGrantable, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, ResourcePolicy, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnPipe } from 'aws-cdk-lib/aws-pipes';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { RUN_COMPLETED } from '../../shared/aws/run-completed.ts';
import { acknowledge } from './nag.ts';

/**
 * The "Invoice run completed" event on the account's default bus. The function that settles a run sends
 * the event's detail to the run-events queue (shared/aws/run-completed.ts); a pipe puts each message on the
 * bus with the project's source and detail-type, the body as the detail. A queue and a pipe rather than
 * PutEvents from the function: the functions need no EventBridge client, and an event the bus refuses is
 * retried and then kept in a DLQ (alarmed) instead of lost inside an invocation that has moved on.
 *
 * The stack's own rule on the event keeps every run's outcome in a log group for 90 days (as long as the run
 * records), queryable with Logs Insights; consumers add their own rules (README, Operations).
 */
export class RunEvents extends Construct {
  readonly queue: Queue;
  readonly dlq: Queue;
  readonly rule: Rule;
  /** Every run-completed event, one log event each. */
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.dlq = new Queue(this, `${RUN_COMPLETED.queue}-dlq`, {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(this.dlq, 'SQS3', 'This queue is itself a dead-letter queue: of the run-events queue.');
    this.queue = new Queue(this, RUN_COMPLETED.queue, {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.dlq, maxReceiveCount: RUN_COMPLETED.maxReceiveCount },
    });

    const bus = EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    const role = new Role(this, 'pipe-role', {
      assumedBy: new ServicePrincipal('pipes.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'invoice-ingest run-completed events: from the run-events queue to the default bus',
    });
    this.queue.grantConsumeMessages(role);
    bus.grantPutEventsTo(role);
    const pipe = new CfnPipe(this, 'pipe', {
      description: `invoice-ingest: "${RUN_COMPLETED.detailType}" events from the run-events queue`,
      roleArn: role.roleArn,
      source: this.queue.queueArn,
      sourceParameters: { sqsQueueParameters: { batchSize: 10 } },
      target: bus.eventBusArn,
      targetParameters: {
        // A JSON body is parsed by the pipe, so the detail is the object the function sent.
        inputTemplate: '<$.body>',
        eventBridgeEventBusParameters: { source: RUN_COMPLETED.source, detailType: RUN_COMPLETED.detailType },
      },
    });
    // The role's policy must exist before the pipe starts reading the queue.
    pipe.node.addDependency(role);

    this.logGroup = new LogGroup(this, 'completed-runs', { retention: RetentionDays.THREE_MONTHS });
    // EventBridge writes to a log group under the log group's resource policy. The CDK log-group target
    // writes that policy through a custom-resource Lambda; AWS::Logs::ResourcePolicy does it natively.
    new ResourcePolicy(this, 'completed-runs-policy', {
      policyStatements: [
        new PolicyStatement({
          principals: [new ServicePrincipal('events.amazonaws.com')],
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [this.logGroup.logGroupArn],
        }),
      ],
    });
    const logTarget: IRuleTarget = {
      bind: () => ({
        arn: Stack.of(this).formatArn({
          service: 'logs',
          resource: 'log-group',
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          resourceName: this.logGroup.logGroupName,
        }),
      }),
    };
    this.rule = new Rule(this, 'completed-runs-rule', {
      description: `invoice-ingest: keep every "${RUN_COMPLETED.detailType}" event in a log group`,
      eventPattern: { source: [RUN_COMPLETED.source], detailType: [RUN_COMPLETED.detailType] },
      targets: [logTarget],
    });
  }

  /** Lets a function that settles runs send their events. */
  grantSend(grantee: IGrantable): void {
    this.queue.grantSendMessages(grantee);
  }
}
