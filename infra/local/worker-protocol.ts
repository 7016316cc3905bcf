/** Messages between the runner (main thread) and a function's worker thread. */

export interface WorkerInit {
  handlerModule: string;
  handlerExport: string;
  functionName: string;
  memoryMb: number;
  region: string;
  accountId: string;
}

export interface SerializedError {
  name: string;
  message: string;
}

export type ToWorker = { type: 'invoke'; requestId: string; event: unknown; timeoutMs: number };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'init-error'; error: SerializedError }
  | { type: 'result'; requestId: string; ok: true; value: unknown }
  | { type: 'result'; requestId: string; ok: false; error: SerializedError };

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}
