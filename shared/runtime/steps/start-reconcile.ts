import type { RunHead } from '../../aws/run-ledger.ts';
import type { JobQueue } from '../../providers/types.ts';

/**
 * How a run whose messages are done asks for its control totals: one `reconcile` message per connection,
 * to the provider's main function. Sent on a queue that does not count them: the ledger counted them
 * when it marked the run (RunLedger.reconcileFirst).
 */
export async function startReconcile(queue: JobQueue, run: RunHead): Promise<void> {
  const provider = run.request.provider;
  if (!provider) return;
  await queue.sendBatch(
    run.request.connections.map((connection) => ({
      v: 1 as const,
      type: 'reconcile' as const,
      runId: run.runId,
      provider,
      connection,
      startedAt: new Date().toISOString(),
    })),
  );
}
