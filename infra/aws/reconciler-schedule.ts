import { Aws, Duration } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Schedule, ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import { acknowledge, wildcardResourceFinding } from './nag.ts';
import { RECONCILER_SETTINGS } from './settings.ts';

/**
 * The run reconciler's EventBridge Scheduler schedule, beside the run schedules (schedules.ts): every
 * RECONCILER_SETTINGS.everyMinutes. A missed invocation is not worth a DLQ: the next one does the same work,
 * and every pass is idempotent. A failing one raises the function's errors alarm.
 */
export class ReconcilerSchedule extends Construct {
  readonly schedule: Schedule;

  constructor(scope: Construct, id: string, props: { handler: IFunction }) {
    super(scope, id);
    const role = new Role(this, 'role', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'invoice-ingest run reconciler schedule',
    });
    this.schedule = new Schedule(this, 'schedule', {
      description: 'invoice-ingest: settle runs whose messages stopped moving',
      schedule: ScheduleExpression.rate(Duration.minutes(RECONCILER_SETTINGS.everyMinutes)),
      target: new LambdaInvoke(props.handler, {
        role,
        retryAttempts: 0,
        maxEventAge: Duration.minutes(RECONCILER_SETTINGS.everyMinutes),
      }),
    });
    acknowledge(
      role,
      'IAM5',
      'LambdaInvoke grants lambda:InvokeFunction on the function and its versions (<arn>:*); the schedule ' +
        'invokes this one function only.',
      [wildcardResourceFinding(role, `${props.handler.functionArn}:*`)],
    );
  }
}
