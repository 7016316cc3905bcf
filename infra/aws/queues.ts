import { Duration } from 'aws-cdk-lib';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { QUEUE_FED_FUNCTIONS, visibilityTimeoutSeconds } from '../../shared/aws/resources.ts';
import type { Config } from '../../shared/config/schema.ts';
import { settingsFor } from './settings.ts';

const DLQ_RETENTION = Duration.days(14);

export interface JobQueue {
  /** Logical queue id from shared/aws/resources.ts. */
  id: string;
  queue: Queue;
  dlq: Queue;
  maxReceiveCount: number;
  visibilityTimeoutSeconds: number;
}

/** One queue per queue-fed function, each with its own DLQ, so a provider's failures stay its own. */
export class JobQueues extends Construct {
  private readonly byId = new Map<string, JobQueue>();

  constructor(scope: Construct, id: string, props: { config: Config }) {
    super(scope, id);
    for (const fn of QUEUE_FED_FUNCTIONS) {
      const settings = settingsFor(props.config, fn);
      const dlq = new Queue(this, `${fn.queue}-dlq`, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: DLQ_RETENTION,
      });
      const visibility = visibilityTimeoutSeconds(settings.timeoutSeconds);
      const queue = new Queue(this, fn.queue, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        visibilityTimeout: Duration.seconds(visibility),
        deadLetterQueue: { queue: dlq, maxReceiveCount: settings.maxReceiveCount },
      });
      this.byId.set(fn.queue, {
        id: fn.queue,
        queue,
        dlq,
        maxReceiveCount: settings.maxReceiveCount,
        visibilityTimeoutSeconds: visibility,
      });
    }
  }

  get(id: string): JobQueue {
    const q = this.byId.get(id);
    if (!q) throw new Error(`no queue "${id}" in shared/aws/resources.ts`);
    return q;
  }

  all(): JobQueue[] {
    return [...this.byId.values()];
  }
}
