import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Announce, RunLedger } from '../../../shared/aws/run-ledger.ts';
import { RUNNING_RUNS_PK } from '../../../shared/aws/running-runs.ts';
import { type StateTable, startStateTable } from '../../helpers/state-table.ts';

/** The run ledger's RUNNING markers and the reconciler's settle paths, on dynalite. */

let db: StateTable;
const announced: Array<[string, string]> = [];
const announce: Announce = async (_ledger, runId, outcome) => {
  announced.push([runId, outcome]);
};
let ledger: RunLedger;

beforeAll(async () => {
  db = await startStateTable();
  ledger = new RunLedger(db.ddb, db.table, () => new Date(), announce);
});
afterAll(() => db?.close());

const request = { connections: ['c1'], source: 'local' as const };
const marked = async () => (await ledger.runningRuns()).map((m) => m.runId);
const markerOf = async (runId: string) =>
  (await db.ddb.send(new GetCommand({ TableName: db.table, Key: { pk: RUNNING_RUNS_PK, sk: runId } }))).Item;

describe('RUNNING markers', () => {
  it('marks a run while it is RUNNING: on start, off when it settles, on again when late work reopens it', async () => {
    await ledger.ensureRun('m-1', request, 1);
    expect(await marked()).toContain('m-1');
    await ledger.addPending('m-1', -1);
    expect((await ledger.getRunHead('m-1'))?.status).toBe('SUCCEEDED');
    expect(await marked()).not.toContain('m-1');
    await ledger.addPending('m-1', 1);
    expect((await ledger.getRunHead('m-1'))?.status).toBe('RUNNING');
    expect(await marked()).toContain('m-1');
    await ledger.addPending('m-1', -1);
    expect(await marked()).not.toContain('m-1');
  });

  it('does not mark a run again when its `run` message comes round after it settled', async () => {
    await ledger.ensureRun('m-2', request, 1);
    await ledger.addPending('m-2', -1);
    expect(await ledger.ensureRun('m-2', request, 1)).toBe(false);
    expect(await marked()).not.toContain('m-2');
  });

  it('keeps the marker of a run reopened since: a removal names the generation it removes', async () => {
    await ledger.ensureRun('m-3', request, 1);
    const first = (await markerOf('m-3'))?.mark as string;
    await ledger.addPending('m-3', -1);
    await ledger.addPending('m-3', 1);
    // A settle that read the first marking comes late: the reopened run's marker stays.
    expect(await ledger.dropRunningMarker('m-3', first)).toBe(false);
    expect(await marked()).toContain('m-3');
  });
});

describe('recordDeadMessage', () => {
  it('records a DLQ message once, takes it off pending, and the last one settles the run FAILED once', async () => {
    announced.length = 0;
    await ledger.ensureRun('d-1', { connections: ['c1', 'c2'], source: 'local' }, 2);
    const failure = { connection: 'c2', messageType: 'fetch', reason: 'reached the DLQ' };
    expect(await ledger.recordDeadMessage('d-1', 'msg-1', failure)).toEqual({ recorded: true });
    expect(await ledger.recordDeadMessage('d-1', 'msg-1', failure)).toEqual({ recorded: false });
    expect((await ledger.getRunHead('d-1'))?.pending).toBe(1);
    expect(await ledger.recordDeadMessage('d-1', 'msg-2', failure)).toEqual({
      recorded: true,
      settled: 'FAILED',
    });
    const run = await ledger.getRun('d-1');
    expect(run).toMatchObject({ status: 'FAILED', pending: 0 });
    expect(run?.failures.map((f) => [f.connection, f.messageType, f.reason])).toEqual([
      ['c2', 'fetch', 'reached the DLQ'],
      ['c2', 'fetch', 'reached the DLQ'],
    ]);
    expect(announced).toEqual([['d-1', 'FAILED']]);
    expect(await marked()).not.toContain('d-1');
  });

  it('does not count as the run moving: its record keeps its updatedAt', async () => {
    await ledger.ensureRun('d-2', request, 2);
    const before = (await ledger.getRunHead('d-2'))!.updatedAt;
    await new Promise((r) => setTimeout(r, 5));
    await ledger.recordDeadMessage('d-2', 'msg-3', { connection: 'c1', messageType: 'poll', reason: 'x' });
    expect((await ledger.getRunHead('d-2'))?.updatedAt).toBe(before);
  });
});

describe('stopRun', () => {
  it('settles a run that is as it was seen, FAILED with the reason listed for each of its connections', async () => {
    announced.length = 0;
    await ledger.ensureRun('s-1', { connections: ['c1', 'c2'], source: 'local' }, 2);
    const seen = (await ledger.getRunHead('s-1'))!;
    expect(await ledger.stopRun('s-1', seen, 'stopped moving, pending 2')).toEqual({
      stopped: true,
      settled: 'FAILED',
    });
    const run = await ledger.getRun('s-1');
    expect(run).toMatchObject({ status: 'FAILED', pending: 0 });
    expect(run?.failures.map((f) => [f.connection, f.reason])).toEqual([
      ['c1', 'stopped moving, pending 2'],
      ['c2', 'stopped moving, pending 2'],
    ]);
    expect(announced).toEqual([['s-1', 'FAILED']]);
    expect(await ledger.stopRun('s-1', seen, 'again')).toEqual({ stopped: false });
  });

  it('leaves alone a run that moved after it was seen', async () => {
    await ledger.ensureRun('s-2', request, 1);
    const seen = (await ledger.getRunHead('s-2'))!;
    await new Promise((r) => setTimeout(r, 5));
    await ledger.addPending('s-2', 1);
    expect(await ledger.stopRun('s-2', seen, 'stopped')).toEqual({ stopped: false });
    expect(await ledger.getRunHead('s-2')).toMatchObject({ status: 'RUNNING', pending: 2 });
  });

  it('finishes a stop whose settle was cut short', async () => {
    announced.length = 0;
    await ledger.ensureRun('s-3', request, 1);
    // What stopRun writes before it settles: a crash right after leaves this.
    await db.ddb.send(
      new UpdateCommand({
        TableName: db.table,
        Key: { pk: 'RUN#s-3', sk: 'RUN' },
        UpdateExpression: 'SET pending = :zero, stopped = :s ADD failureCount :one',
        ExpressionAttributeValues: { ':zero': 0, ':s': { at: 'now', reason: 'stopped' }, ':one': 1 },
      }),
    );
    expect(await ledger.settlePending('s-3')).toBe('FAILED');
    expect(await ledger.settlePending('s-3')).toBeUndefined();
    expect(announced).toEqual([['s-3', 'FAILED']]);
  });
});

describe('control totals before a run settles', () => {
  const started: string[] = [];
  const withTotals = (send: (runId: string) => Promise<void>) =>
    new RunLedger(
      db.ddb,
      db.table,
      () => new Date(),
      announce,
      async (run) => send(run.runId),
    );
  const req = { provider: 'cm360' as const, connections: ['c1', 'c2'], source: 'local' as const };

  it('sends one reconcile per connection when the last message is done, counts them, and settles only after them', async () => {
    const l = withTotals(async (runId) => {
      started.push(runId);
    });
    await l.ensureRun('t-1', req, 1);
    await l.addPending('t-1', -1);
    expect(started).toEqual(['t-1']);
    expect(await l.getRunHead('t-1')).toMatchObject({ status: 'RUNNING', pending: 2 });
    await l.addPending('t-1', -1);
    expect((await l.getRunHead('t-1'))?.status).toBe('RUNNING');
    await l.addPending('t-1', -1);
    expect((await l.getRunHead('t-1'))?.status).toBe('SUCCEEDED');
    // Late work reopens the run; when it settles again the totals are not asked for twice.
    await l.addPending('t-1', 1);
    await l.addPending('t-1', -1);
    expect(started).toEqual(['t-1']);
    expect((await l.getRunHead('t-1'))?.status).toBe('SUCCEEDED');
  });

  it('does not ask for totals of a run that failed, or of a run for one invoice', async () => {
    const l = withTotals(async (runId) => {
      started.push(runId);
    });
    await l.ensureRun('t-2', req, 1);
    await l.recordDeadMessage('t-2', 'm-1', { connection: 'c1', messageType: 'fetch', reason: 'gone' });
    await l.ensureRun('t-3', { ...req, invoiceId: 'INV-1' }, 1);
    await l.addPending('t-3', -1);
    expect(started).not.toContain('t-2');
    expect(started).not.toContain('t-3');
    expect((await l.getRunHead('t-2'))?.status).toBe('FAILED');
    expect((await l.getRunHead('t-3'))?.status).toBe('SUCCEEDED');
  });

  it('settles PARTIAL, naming why, when the totals cannot be asked for', async () => {
    const l = withTotals(async () => {
      throw new Error('queue refused');
    });
    await l.ensureRun('t-4', req, 1);
    await l.addPending('t-4', -1);
    const run = await l.getRun('t-4');
    expect(run?.status).toBe('PARTIAL');
    expect(run?.pending).toBe(0);
    expect(run?.problems.map((p) => [p.connection, p.code])).toEqual([
      ['c1', 'reconciliation.not-started'],
      ['c2', 'reconciliation.not-started'],
    ]);
    expect(run?.problems[0]?.message).toContain('queue refused');
  });
});
