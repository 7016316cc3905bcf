import type { ReconcileReport } from '../../shared/runtime/reconcile-runs.ts';
import { RECONCILER_SETTINGS } from '../aws/settings.ts';
import type { LocalStack } from './stack.ts';

/**
 * The run reconciler on its schedule, as EventBridge Scheduler runs it on AWS (every
 * RECONCILER_SETTINGS.everyMinutes), for a local stack that stays up (`npm start -- --serve`): a run whose
 * message reached a DLQ, or that stopped moving, is settled there as it is on AWS instead of staying RUNNING.
 * Passes never overlap; a failed one is reported and the next goes ahead. Returns what stops it.
 */
export function scheduleReconciler(
  stack: Pick<LocalStack, 'reconcile'>,
  env: Record<string, string>,
  report: (outcome: ReconcileReport | Error) => void,
  everyMs = RECONCILER_SETTINGS.everyMinutes * 60_000,
): () => Promise<void> {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= stack
      .reconcile(env)
      .then(report, (err: unknown) => report(err instanceof Error ? err : new Error(String(err))))
      .finally(() => {
        running = undefined;
      });
  }, everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
