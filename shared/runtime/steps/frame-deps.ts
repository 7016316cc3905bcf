import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoStateStore } from '../../aws/state-store.ts';
import type { FunctionEnv } from '../env.ts';

/** What every step of the frame works with, built once per container. */
export interface FrameDeps {
  env: FunctionEnv;
  logger: Logger;
  metrics: Metrics;
  state: DynamoStateStore;
  sqs: SQSClient;
}
