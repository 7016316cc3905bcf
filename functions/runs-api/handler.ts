import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoClient, requireEnv, sqsClient } from '../../shared/aws/clients.ts';
import { ENV } from '../../shared/aws/resources.ts';
import { RunLedger } from '../../shared/aws/run-ledger.ts';
import { DynamoStateStore } from '../../shared/aws/state-store.ts';
import { runtimeConfig } from '../../shared/config/load.ts';
import { SqsJobQueue } from '../../shared/jobs/queue.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { describeError } from '../../shared/runtime/errors.ts';
import {
  IDEMPOTENCY_KEY,
  IdempotencyKeyError,
  RUN_REQUEST_MAX_BYTES,
  RunRequestError,
  resolveRunRequest,
  startRun,
  startRunOnce,
} from '../../shared/runtime/runs.ts';

const logger = createLogger('runs-api');

function json(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/** API Gateway passes header names as the client sent them. */
function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(event.headers ?? {})) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

/** The request's problem, as the answer to give, before anything is parsed or started. */
function refuseBody(event: APIGatewayProxyEvent): APIGatewayProxyResult | undefined {
  const body = event.body ?? '';
  if (!body) return undefined;
  const bytes = Buffer.byteLength(body, event.isBase64Encoded ? 'base64' : 'utf8');
  if (bytes > RUN_REQUEST_MAX_BYTES) {
    return json(413, { error: `body is ${bytes} bytes, over ${RUN_REQUEST_MAX_BYTES}`, field: '(body)' });
  }
  const type = header(event, 'content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    return json(415, {
      error: `Content-Type must be application/json, got ${type ? `"${type}"` : 'none'}`,
      field: '(headers).Content-Type',
    });
  }
  return undefined;
}

/**
 * POST /runs starts a run (an Idempotency-Key header makes a retry get the same run); GET /runs/{runId}
 * answers its record.
 */
export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  // runs-api has no queue of its own, so it reads only the table and the provider queues' URLs.
  const table = requireEnv(ENV.table);
  const state = new DynamoStateStore(dynamoClient(), table);
  try {
    if (event.httpMethod === 'POST' && event.resource === '/runs') {
      const refused = refuseBody(event);
      if (refused) return refused;
      const key = header(event, 'idempotency-key');
      if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
        return json(400, {
          error: 'Idempotency-Key: expected 1 to 255 visible ASCII characters',
          field: '(headers).Idempotency-Key',
        });
      }
      let body: unknown;
      try {
        const text = event.isBase64Encoded
          ? Buffer.from(event.body ?? '', 'base64').toString('utf8')
          : event.body;
        body = JSON.parse(text || '{}');
      } catch {
        return json(400, { error: 'body is not JSON', field: '(body)' });
      }
      const resolved = resolveRunRequest(body, runtimeConfig());
      const queue = new SqsJobQueue(sqsClient(), process.env, (m, n) => state.addPending(m.runId, n));
      const deps = { state, queue, source: 'api' as const };
      const started = key
        ? await startRunOnce(resolved, { ...deps, keys: new RunLedger(dynamoClient(), table) }, key)
        : await startRun(resolved, deps).then(({ runId, messages }) => ({
            runId,
            connections: messages.map((m) => m.connection),
            replayed: false,
          }));
      const { runId, connections, replayed } = started;
      logger.info(replayed ? 'run replayed for its idempotency key' : 'run accepted', { runId, connections });
      return json(
        202,
        { runId, connections, status: `/runs/${runId}` },
        replayed ? { 'idempotent-replayed': 'true' } : {},
      );
    }
    if (event.httpMethod === 'GET' && event.resource === '/runs/{runId}') {
      const runId = event.pathParameters?.runId ?? '';
      const run = runId ? await state.getRun(runId) : undefined;
      return run ? json(200, run) : json(404, { error: `no run ${runId}` });
    }
    return json(404, { error: `no route ${event.httpMethod} ${event.resource}` });
  } catch (err) {
    if (err instanceof RunRequestError) return json(400, { error: err.message, field: err.field });
    if (err instanceof IdempotencyKeyError) {
      return json(err.reason === 'conflict' ? 409 : 422, {
        error: err.message,
        field: '(headers).Idempotency-Key',
      });
    }
    logger.error('runs-api failed', { reason: describeError(err) });
    return json(500, { error: 'internal error' });
  }
};
