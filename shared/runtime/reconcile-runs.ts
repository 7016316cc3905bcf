import type { RunHead, RunLedger, RunStatus } from '../aws/run-ledger.ts';
import type { Log } from '../providers/types.ts';

/** A message waiting in a function's DLQ, read without taking it off (peek-dlq.ts). */
export interface DeadLetter {
  /** The queue whose DLQ holds it (logical id, e.g. `sp-api-invoices`). */
  queue: string;
  messageId: string;
  body: string;
  /** The `reason` attribute the frame sets when it moves a message itself (and records it in its run). */
  reason?: string;
}

export type ReconcileCause = 'DLQ' | 'STOPPED';

export interface ReconcileReport {
  /** RUNNING runs looked at. */
  running: number;
  /** DLQ messages recorded as failures of their runs by this pass. */
  deadMessages: Array<{
    runId: string;
    queue: string;
    messageId: string;
    messageType: string;
    connection: string;
  }>;
  /** Runs stopped for not moving, with the messages they still counted. */
  stopped: Array<{ runId: string; pending: number; quietSince: string }>;
  /** Runs this pass settled, and what settled them. */
  settled: Array<{ runId: string; status: RunStatus; cause: ReconcileCause }>;
  /** Markers whose run was no longer RUNNING (or gone), dropped. */
  markersDropped: number;
}

export interface ReconcileDeps {
  ledger: Pick<
    RunLedger,
    'runningRuns' | 'getRunHead' | 'dropRunningMarker' | 'recordDeadMessage' | 'stopRun' | 'settlePending'
  >;
  /** Every message waiting in the functions' DLQs; asked only when some run is RUNNING. */
  deadLetters: () => Promise<DeadLetter[]>;
  /** A RUNNING run not updated for longer than this has stopped moving (stale-after.ts). */
  staleAfterMs: number;
  now?: () => Date;
  log?: Pick<Log, 'info' | 'warn'>;
}

/**
 * Settles runs whose messages stopped moving, which nothing else would: a message whose function timed out or
 * ran out of memory on its last receive is moved to the DLQ by SQS's redrive, with no code left to take it off
 * its run's pending count; a send that failed after counting leaves a count no message will ever take back.
 *
 * 1. Every RUNNING run (the ledger's markers; one left by a run that settled is dropped).
 * 2. DLQ arrivals: a message of a RUNNING run in a DLQ without the frame's `reason` attribute reached it by
 *    redrive, unrecorded. It becomes a failure of its run (once per DLQ message) and leaves the pending count;
 *    the last one settles the run FAILED.
 * 3. Age: a run still RUNNING whose record was not updated (no message of it sent or done) for longer than
 *    `staleAfterMs` is stopped: a failure saying so with its pending count, and settled FAILED. The update is
 *    conditional on the record as read, so a run that moves meanwhile is left alone.
 *
 * Every write is conditional or keyed on what it settles, so a second pass (or two at once) settles nothing
 * twice, and the run ledger's own settle path announces each settling once.
 */
export async function reconcileRuns(deps: ReconcileDeps): Promise<ReconcileReport> {
  const now = deps.now ?? (() => new Date());
  const report: ReconcileReport = {
    running: 0,
    deadMessages: [],
    stopped: [],
    settled: [],
    markersDropped: 0,
  };
  const running = new Map<string, RunHead>();
  for (const marker of await deps.ledger.runningRuns()) {
    const head = await deps.ledger.getRunHead(marker.runId);
    if (head?.status === 'RUNNING') {
      running.set(marker.runId, head);
      continue;
    }
    // A marker is written just before its run record: one without a record is left until it is surely orphaned.
    const orphanedFor = now().getTime() - Date.parse(marker.markedAt);
    if (head || orphanedFor > deps.staleAfterMs) {
      if (await deps.ledger.dropRunningMarker(marker.runId, marker.mark)) report.markersDropped++;
    }
  }
  report.running = running.size;
  if (!running.size) return report;

  for (const letter of await deps.deadLetters()) {
    if (letter.reason !== undefined) continue;
    const message = messageOf(letter.body);
    if (!message || !running.has(message.runId)) continue;
    const scope = message.scope ? ` (scope ${message.scope})` : '';
    const out = await deps.ledger.recordDeadMessage(message.runId, letter.messageId, {
      connection: message.connection,
      messageType: message.type,
      reason:
        `${message.type} message${scope} reached the ${letter.queue} DLQ without being settled ` +
        '(timeout or out of memory?)',
    });
    if (!out.recorded) continue;
    report.deadMessages.push({
      runId: message.runId,
      queue: letter.queue,
      messageId: letter.messageId,
      messageType: message.type,
      connection: message.connection,
    });
    deps.log?.warn('message reached the DLQ without being settled', {
      runId: message.runId,
      queue: letter.queue,
      messageId: letter.messageId,
      type: message.type,
      connection: message.connection,
    });
    if (out.settled) settled(report, deps, message.runId, out.settled, 'DLQ');
  }

  for (const runId of running.keys()) {
    if (report.settled.some((s) => s.runId === runId)) continue;
    const head = await deps.ledger.getRunHead(runId);
    if (head?.status !== 'RUNNING') continue;
    if (head.stopped && head.pending <= 0) {
      // Stopped by an earlier pass whose settle was cut short: only the settle is left to do.
      const status = await deps.ledger.settlePending(runId);
      if (status) settled(report, deps, runId, status, 'STOPPED');
      continue;
    }
    const quietMs = now().getTime() - Date.parse(head.updatedAt);
    if (!(quietMs > deps.staleAfterMs)) continue;
    const minutes = Math.floor(quietMs / 60_000);
    const limit = Math.round(deps.staleAfterMs / 60_000);
    const reason =
      `stopped moving: no message of the run was sent or done for ${minutes} min (since ${head.updatedAt}, ` +
      `limit ${limit} min), pending ${head.pending}`;
    const out = await deps.ledger.stopRun(runId, head, reason);
    if (!out.stopped) continue;
    report.stopped.push({ runId, pending: head.pending, quietSince: head.updatedAt });
    deps.log?.warn('run stopped moving', { runId, pending: head.pending, quietSince: head.updatedAt });
    if (out.settled) settled(report, deps, runId, out.settled, 'STOPPED');
  }
  return report;
}

function settled(
  report: ReconcileReport,
  deps: ReconcileDeps,
  runId: string,
  status: RunStatus,
  cause: ReconcileCause,
): void {
  report.settled.push({ runId, status, cause });
  deps.log?.info('run settled by the reconciler', { runId, status, cause });
}

/** What the reconciler needs of a job message's body, or undefined when it names no run. */
function messageOf(
  body: string,
): { runId: string; type: string; connection: string; scope?: string } | undefined {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object' || typeof v.runId !== 'string') return undefined;
  const text = (x: unknown, fallback: string) => (typeof x === 'string' && x ? x : fallback);
  return {
    runId: v.runId,
    type: text(v.type, 'unknown'),
    connection: text(v.connection, 'unknown'),
    ...(typeof v.scope === 'string' ? { scope: v.scope } : {}),
  };
}
