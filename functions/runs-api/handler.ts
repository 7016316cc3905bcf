import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoClient, requireEnv, sqsClient } from '../../shared/aws/clients.ts';
import { ENV } from '../../shared/aws/resources.ts';
import { DynamoStateStore } from '../../shared/aws/state-store.ts';
import { runtimeConfig } from '../../shared/config/load.ts';
import { SqsJobQueue } from '../../shared/jobs/queue.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { describeError } from '../../shared/runtime/errors.ts';
import { RunRequestError, resolveRunRequest, startRun } from '../../shared/runtime/runs.ts';

const logger = createLogger('runs-api');

function json(statusCode: number, body: unknown): APIGatewayProxyResult {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/** POST /runs starts a run; GET /runs/{runId} answers its record. */
export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  // runs-api has no queue of its own, so it reads only the table and the provider queues' URLs.
  const state = new DynamoStateStore(dynamoClient(), requireEnv(ENV.table));
  try {
    if (event.httpMethod === 'POST' && event.resource === '/runs') {
      let body: unknown;
      try {
        body = JSON.parse(event.body ?? '{}');
      } catch {
        return json(400, { error: 'body is not JSON', field: '(body)' });
      }
      const resolved = resolveRunRequest(body, runtimeConfig());
      const queue = new SqsJobQueue(sqsClient(), process.env, (m, n) => state.addPending(m.runId, n));
      const { runId, messages } = await startRun(resolved, { state, queue, source: 'api' });
      logger.info('run accepted', { runId, connections: messages.map((m) => m.connection) });
      return json(202, { runId, connections: messages.map((m) => m.connection), status: `/runs/${runId}` });
    }
    if (event.httpMethod === 'GET' && event.resource === '/runs/{runId}') {
      const runId = event.pathParameters?.runId ?? '';
      const run = runId ? await state.getRun(runId) : undefined;
      return run ? json(200, run) : json(404, { error: `no run ${runId}` });
    }
    return json(404, { error: `no route ${event.httpMethod} ${event.resource}` });
  } catch (err) {
    if (err instanceof RunRequestError) return json(400, { error: err.message, field: err.field });
    logger.error('runs-api failed', { reason: describeError(err) });
    return json(500, { error: 'internal error' });
  }
};
