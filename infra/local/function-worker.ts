import { pathToFileURL } from 'node:url';
import { parentPort as maybePort, threadId, workerData } from 'node:worker_threads';
import type { Context } from 'aws-lambda';
import { type FromWorker, serializeError, type ToWorker, type WorkerInit } from './worker-protocol.ts';

/**
 * Runs inside a worker thread: one "container" of a function. It loads the function's bundle once (its
 * module state lives as long as the worker, like a warm Lambda), then answers invoke messages one at a time.
 * It is bundled itself (bundles.ts workerBundle), so the thread needs no TypeScript loader.
 */

type Handler = (event: unknown, context: Context) => unknown;

const init = workerData as WorkerInit;
// Lambda runs the functions with NODE_OPTIONS=--enable-source-maps (the stack sets it); a worker thread
// takes no NODE_OPTIONS, so the same setting is applied here.
if (process.env.NODE_OPTIONS?.includes('--enable-source-maps')) process.setSourceMapsEnabled(true);
if (!maybePort) throw new Error('function-worker must run in a worker thread');
const port = maybePort;
const post = (msg: FromWorker) => port.postMessage(msg);

function lambdaContext(requestId: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  const name = init.functionName;
  const ignored = () => {};
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${init.region}:${init.accountId}:function:${name}`,
    memoryLimitInMB: String(init.memoryMb),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: `local/[$LATEST]worker-${threadId}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: ignored,
    fail: ignored,
    succeed: ignored,
  };
}

/** Results cross the thread boundary by structured clone; JSON keeps them to what Lambda would serialize. */
function asResult(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

async function loadHandler(): Promise<Handler | undefined> {
  try {
    const mod = (await import(pathToFileURL(init.handlerModule).href)) as Record<string, unknown>;
    const exported = mod[init.handlerExport];
    if (typeof exported !== 'function') {
      throw new Error(`${init.handlerModule} has no exported function "${init.handlerExport}"`);
    }
    return exported as Handler;
  } catch (err) {
    // The worker then has no listener and ends by itself, like a container whose init failed.
    post({ type: 'init-error', error: serializeError(err) });
    return undefined;
  }
}

const handler = await loadHandler();
if (handler) {
  port.on('message', (msg: ToWorker) => {
    if (msg.type !== 'invoke') return;
    void (async () => {
      try {
        const value = await handler(msg.event, lambdaContext(msg.requestId, msg.timeoutMs));
        post({ type: 'result', requestId: msg.requestId, ok: true, value: asResult(value) });
      } catch (err) {
        post({ type: 'result', requestId: msg.requestId, ok: false, error: serializeError(err) });
      }
    })();
  });
  post({ type: 'ready' });
}
