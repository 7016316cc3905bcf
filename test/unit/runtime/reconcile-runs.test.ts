import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Announce, RunLedger } from '../../../shared/aws/run-ledger.ts';
import { RunningRuns } from '../../../shared/aws/running-runs.ts';
import { type DeadLetter, reconcileRuns } from '../../../shared/runtime/reconcile-runs.ts';
import { type StateTable, startStateTable } from '../../helpers/state-table.ts';

/**
 * The run reconciler on the run ledger (dynalite), with the DLQs as a list. The clock is the ledger's and the
 * reconciler's alike, moved by hand.
 */

const HOUR = 3_600_000;
const STALE_AFTER = 6 * HOUR;

let db: StateTable;
let clock: Date;
const announced: Array<[string, string]> = [];
const announce: Announce = async (_ledger, runId, outcome) => {
  announced.push([runId, outcome]);
};
let ledger: RunLedger;
let dlq: DeadLetter[];

beforeAll(async () => {
  db = await startStateTable();
  ledger = new RunLedger(db.ddb, db.table, () => clock, announce);
});
afterAll(() => db?.close());
beforeEach(() => {
  clock = new Date('2026-03-01T06:00:00.000Z');
  announced.length = 0;
  dlq = [];
});

const later = (ms: number) => {
  clock = new Date(clock.getTime() + ms);
};
const reconcile = () =>
  reconcileRuns({ ledger, deadLetters: async () => dlq, staleAfterMs: STALE_AFTER, now: () => clock });
const fetchBody = (runId: string, scope: string) =>
  JSON.stringify({
    v: 1,
    type: 'fetch',
    runId,
    provider: 'sp-api',
    connection: 'sp-br',
    scope,
    window: { from: '2026-02-01', to: '2026-02-28' },
  });
const request = { provider: 'sp-api' as const, connections: ['sp-br'], source: 'schedule' as const };

describe('reconcileRuns', () => {
  it('settles FAILED a run whose last message died unrecorded in a DLQ, naming the message', async () => {
    await ledger.ensureRun('dead', request, 1);
    dlq.push({ queue: 'sp-api-invoices', messageId: 'm-dead', body: fetchBody('dead', 'A2Q3Y263D00KWC') });
    later(10 * 60_000);

    const report = await reconcile();

    expect(report.deadMessages).toEqual([
      {
        runId: 'dead',
        queue: 'sp-api-invoices',
        messageId: 'm-dead',
        messageType: 'fetch',
        connection: 'sp-br',
      },
    ]);
    expect(report.settled).toEqual([{ runId: 'dead', status: 'FAILED', cause: 'DLQ' }]);
    const run = await ledger.getRun('dead');
    expect(run).toMatchObject({ status: 'FAILED', pending: 0 });
    expect(run?.failures).toEqual([
      {
        at: clock.toISOString(),
        connection: 'sp-br',
        messageType: 'fetch',
        reason:
          'fetch message (scope A2Q3Y263D00KWC) reached the sp-api-invoices DLQ without being settled ' +
          '(timeout or out of memory?)',
      },
    ]);
    expect(announced).toEqual([['dead', 'FAILED']]);
  });

  it('settles once when run twice, and announces once', async () => {
    await ledger.ensureRun('twice', request, 1);
    dlq.push({ queue: 'export-poll', messageId: 'm-twice', body: fetchBody('twice', 's') });
    await ledger.ensureRun('twice-old', request, 2);
    later(STALE_AFTER + 1);

    const first = await reconcile();
    const second = await reconcile();

    expect(first.settled.map((s) => [s.runId, s.cause]).sort()).toEqual([
      ['twice', 'DLQ'],
      ['twice-old', 'STOPPED'],
    ]);
    expect(second).toMatchObject({ running: 0, deadMessages: [], stopped: [], settled: [] });
    expect(announced.sort()).toEqual([
      ['twice', 'FAILED'],
      ['twice-old', 'FAILED'],
    ]);
    expect((await ledger.getRun('twice'))?.failures).toHaveLength(1);
  });

  it('settles FAILED a run not updated for longer than the limit, saying it stopped moving and what was pending', async () => {
    await ledger.ensureRun('stale', request, 2);
    const since = clock.toISOString();
    later(STALE_AFTER + 60_000);

    const report = await reconcile();

    expect(report.stopped).toEqual([{ runId: 'stale', pending: 2, quietSince: since }]);
    expect(report.settled).toEqual([{ runId: 'stale', status: 'FAILED', cause: 'STOPPED' }]);
    const run = await ledger.getRun('stale');
    expect(run).toMatchObject({ status: 'FAILED', pending: 0 });
    expect(run?.failures).toHaveLength(1);
    expect(run?.failures[0]).toMatchObject({ connection: 'sp-br', messageType: 'unknown' });
    expect(run?.failures[0]?.reason).toBe(
      `stopped moving: no message of the run was sent or done for 361 min (since ${since}, limit 360 min), pending 2`,
    );
    expect(announced).toEqual([['stale', 'FAILED']]);
  });

  it('leaves alone a run that keeps moving, however long it has run', async () => {
    await ledger.ensureRun('moving', request, 1);
    for (let i = 0; i < 4; i++) {
      later(STALE_AFTER / 2);
      await ledger.addPending('moving', 1); // a continuation sent
      await ledger.addPending('moving', -1); // the message that sent it done
    }
    later(STALE_AFTER / 2);

    const report = await reconcile();

    expect(report.running).toBeGreaterThanOrEqual(1);
    expect(report.stopped.map((s) => s.runId)).not.toContain('moving');
    expect(await ledger.getRunHead('moving')).toMatchObject({ status: 'RUNNING', pending: 1 });
    expect(announced).toEqual([]);
    // Done later, it settles as usual.
    await ledger.addPending('moving', -1);
    expect((await ledger.getRunHead('moving'))?.status).toBe('SUCCEEDED');
  });

  it('ignores DLQ messages the frame moved itself (it recorded them), of settled runs, and of no run', async () => {
    await ledger.ensureRun('recorded', request, 1);
    dlq.push(
      {
        queue: 'sp-api-invoices',
        messageId: 'm-rec',
        body: fetchBody('recorded', 's'),
        reason: 'after 5 receives: boom',
      },
      { queue: 'sp-api-invoices', messageId: 'm-gone', body: fetchBody('no-such-run', 's') },
      { queue: 'sp-api-invoices', messageId: 'm-junk', body: 'not json' },
    );
    later(60_000);

    const report = await reconcile();

    expect(report.deadMessages).toEqual([]);
    expect(await ledger.getRunHead('recorded')).toMatchObject({ status: 'RUNNING', pending: 1 });
    await ledger.addPending('recorded', -1);
  });

  it('records a dead message of a run with more pending, and stops the run by age still (the DLQ is no movement)', async () => {
    await ledger.ensureRun('both', request, 2);
    dlq.push({ queue: 'cm360-invoices', messageId: 'm-both', body: fetchBody('both', 'adv-1') });
    later(STALE_AFTER + 1);

    const report = await reconcile();

    expect(report.deadMessages.map((d) => d.messageId)).toEqual(['m-both']);
    expect(report.stopped).toEqual([{ runId: 'both', pending: 1, quietSince: expect.any(String) }]);
    expect(report.settled).toEqual([{ runId: 'both', status: 'FAILED', cause: 'STOPPED' }]);
    expect((await ledger.getRun('both'))?.failures).toHaveLength(2);
    expect(announced).toEqual([['both', 'FAILED']]);
  });

  it('drops markers of runs that settled, and of runs never recorded once they are old', async () => {
    await ledger.ensureRun('leftover', request, 1);
    await ledger.addPending('leftover', -1);
    // A marker whose run record was never written (a crash between the two) or was rewritten.
    const markers = new RunningRuns(db.ddb, db.table, () => clock, 1);
    await markers.mark('leftover');
    await markers.mark('never-recorded');

    expect((await reconcile()).markersDropped).toBe(1);
    expect((await ledger.runningRuns()).map((m) => m.runId)).toContain('never-recorded');
    later(STALE_AFTER + 1);
    expect((await reconcile()).markersDropped).toBe(1);
    expect((await ledger.runningRuns()).map((m) => m.runId)).not.toContain('never-recorded');
  });

  it('does not read the DLQs when no run is RUNNING', async () => {
    for (const m of await ledger.runningRuns()) {
      const head = await ledger.getRunHead(m.runId);
      if (head?.status === 'RUNNING') await ledger.stopRun(m.runId, head, 'cleared by the test');
    }
    let asked = 0;
    const report = await reconcileRuns({
      ledger,
      deadLetters: async () => {
        asked++;
        return [];
      },
      staleAfterMs: STALE_AFTER,
      now: () => clock,
    });
    expect(report.running).toBe(0);
    expect(asked).toBe(0);
  });
});
