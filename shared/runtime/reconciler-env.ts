import { ENV } from '../aws/resources.ts';
import { type ReconciledQueue, staleAfterMinutes } from './stale-after.ts';

/** The reconciler's list of queues (set by the stack, and by the local stack): JSON, ReconciledQueue[]. */
export const RECONCILE_QUEUES_ENV = 'RECONCILE_QUEUES';

export interface ReconcilerEnv {
  table: string;
  queues: ReconciledQueue[];
  staleAfterMs: number;
}

/** The run reconciler's settings, from the environment; a missing or malformed one names the variable. */
export function reconcilerEnv(env: NodeJS.ProcessEnv = process.env): ReconcilerEnv {
  const table = env[ENV.table];
  if (!table) throw new Error(`environment variable ${ENV.table} is not set`);
  const raw = env[RECONCILE_QUEUES_ENV];
  if (!raw) throw new Error(`environment variable ${RECONCILE_QUEUES_ENV} is not set`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new Error(`environment variable ${RECONCILE_QUEUES_ENV} is not JSON: ${(err as Error).message}`);
  }
  const fine = (q: Partial<ReconciledQueue>) =>
    typeof q.queue === 'string' &&
    typeof q.dlqUrl === 'string' &&
    Number.isInteger(q.maxReceiveCount) &&
    Number.isInteger(q.visibilityTimeoutSeconds);
  if (!Array.isArray(parsed) || !parsed.every((q) => q && typeof q === 'object' && fine(q))) {
    throw new Error(
      `environment variable ${RECONCILE_QUEUES_ENV}: expected a list of {queue, dlqUrl, maxReceiveCount, visibilityTimeoutSeconds}`,
    );
  }
  const queues = parsed as ReconciledQueue[];
  return { table, queues, staleAfterMs: staleAfterMinutes(queues, env) * 60_000 };
}
