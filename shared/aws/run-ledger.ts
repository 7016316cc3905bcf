import { createHash } from 'node:crypto';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ProviderId } from '../config/schema.ts';
import type { ReconciliationSummary } from '../engine/reconciliation.ts';
import type { Counter } from '../providers/types.ts';
import { announceRunCompleted } from './run-completed.ts';
import { type RunningMarker, RunningRuns } from './running-runs.ts';
import { isConditionFailure, queryAll, ttl } from './state-table.ts';

/**
 * SUCCEEDED: everything landed. PARTIAL: something is pending, or was kept raw for not fitting (the run's
 * problems say what). FAILED: a message of the run ended in a DLQ.
 */
export type RunStatus = 'RUNNING' | 'SUCCEEDED' | 'PARTIAL' | 'FAILED';

export interface RunRequest {
  provider?: ProviderId;
  connections: string[];
  window?: { from: string; to: string };
  invoiceId?: string;
  full?: boolean;
  source: 'api' | 'schedule' | 'local' | 'unknown';
}

export interface RunFailure {
  at: string;
  connection: string;
  messageType: string;
  reason: string;
}

export interface RunRecord {
  runId: string;
  status: RunStatus;
  createdAt: string;
  updatedAt: string;
  request: RunRequest;
  pending: number;
  connections: Record<string, Partial<Record<Counter, number>>>;
  failures: RunFailure[];
  problems: Array<{
    at: string;
    connection: string;
    code: string;
    message: string;
    key?: string;
    note?: boolean;
  }>;
  /** Keys of the month files the run published (each once). */
  monthFiles: string[];
  /** Each connection's control totals, once they were checked (shared/engine/reconcile-connection.ts). */
  reconciliations?: Record<string, ReconciliationSummary>;
}

/**
 * The run record itself (RUN#<runId> / RUN), without its counters, failures and problems: what the
 * reconciler decides on.
 */
export interface RunHead {
  runId: string;
  status: RunStatus;
  createdAt: string;
  updatedAt: string;
  request: RunRequest;
  pending: number;
  failureCount: number;
  /** Set when the reconciler settled the run for having stopped moving. */
  stopped?: { at: string; reason: string };
}

/**
 * Sends the run's control-totals messages, one per connection (the frame passes one that sends to each
 * provider's main function). The ledger has already counted them as pending.
 */
export type StartReconcile = (run: RunHead) => Promise<void>;

/** How a settling is announced: announceRunCompleted (run-completed.ts); tests pass their own. */
export type Announce = (
  ledger: { getRun(runId: string): Promise<RunRecord | undefined> },
  runId: string,
  outcome: string,
) => Promise<void>;

const RUN_TTL_DAYS = 90;

/**
 * An Idempotency-Key of POST /runs (RUNKEY#<key> / RUNKEY): the run it started and a fingerprint of the
 * request, so a retry gets that run and a different request under the same key is refused. CLAIMED
 * while the first request is starting the run, STARTED once its messages are sent.
 */
export interface RunKeyRecord {
  key: string;
  runId: string;
  fingerprint: string;
  state: 'CLAIMED' | 'STARTED';
  claimedAt: string;
  connections?: string[];
}

/** How long a key is remembered (DynamoDB TTL; an expired record not yet deleted counts as gone). */
export const RUN_KEY_TTL_DAYS = 1;

/** The run ledger: what a run asked for, its outstanding messages, counters, failures and problems. */
export class RunLedger {
  private readonly running: RunningRuns;

  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly now: () => Date = () => new Date(),
    private readonly announce: Announce = announceRunCompleted,
    private readonly startReconcile?: StartReconcile,
  ) {
    this.running = new RunningRuns(ddb, table, now, RUN_TTL_DAYS);
  }

  /** Creates the run record unless it exists; a new record starts with `pending` messages outstanding. */
  async ensureRun(runId: string, request: RunRequest, pending: number): Promise<boolean> {
    // Every `run` message asks: a run already recorded is not marked again (a settled one would be left a
    // marker to clean up). A new one is marked first, so a RUNNING run always has its marker (running-runs.ts).
    const existing = await this.ddb.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: `RUN#${runId}`, sk: 'RUN' },
        ProjectionExpression: 'pk',
        ConsistentRead: true,
      }),
    );
    if (existing.Item) return false;
    const mark = await this.running.mark(runId);
    const now = this.now();
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: `RUN#${runId}`,
            sk: 'RUN',
            runId,
            status: 'RUNNING',
            createdAt: now.toISOString(),
            updatedAt: now.toISOString(),
            request,
            pending,
            failureCount: 0,
            mark,
            expiresAt: ttl(RUN_TTL_DAYS, now),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /**
   * Claims an idempotency key for a run about to start. False when the key is taken (and not expired):
   * then `getRunKey` tells which run holds it.
   */
  async claimRunKey(key: string, claim: { runId: string; fingerprint: string }): Promise<boolean> {
    const now = this.now();
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: `RUNKEY#${key}`,
            sk: 'RUNKEY',
            key,
            ...claim,
            state: 'CLAIMED',
            claimedAt: now.toISOString(),
            expiresAt: ttl(RUN_KEY_TTL_DAYS, now),
          },
          // DynamoDB deletes expired items up to a few days late: an expired key is free.
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
          ExpressionAttributeValues: { ':now': Math.floor(now.getTime() / 1000) },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async getRunKey(key: string): Promise<RunKeyRecord | undefined> {
    const out = await this.ddb.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: `RUNKEY#${key}`, sk: 'RUNKEY' },
        ConsistentRead: true,
      }),
    );
    const item = out.Item;
    if (!item || Number(item.expiresAt) < Math.floor(this.now().getTime() / 1000)) return undefined;
    return {
      key,
      runId: String(item.runId),
      fingerprint: String(item.fingerprint),
      state: item.state === 'STARTED' ? 'STARTED' : 'CLAIMED',
      claimedAt: String(item.claimedAt),
      ...(Array.isArray(item.connections) ? { connections: item.connections.map(String) } : {}),
    };
  }

  /**
   * Takes over a claim whose request died before it started its run (the claim is as `seen` left it):
   * true for the one caller that wins it.
   */
  async takeOverRunKey(key: string, seen: RunKeyRecord): Promise<boolean> {
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `RUNKEY#${key}`, sk: 'RUNKEY' },
          UpdateExpression: 'SET claimedAt = :now',
          ConditionExpression: '#s = :claimed AND claimedAt = :seen',
          ExpressionAttributeNames: { '#s': 'state' },
          ExpressionAttributeValues: {
            ':now': this.now().toISOString(),
            ':claimed': 'CLAIMED',
            ':seen': seen.claimedAt,
          },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** Marks the key's run as started: from now on a retry is answered with it. */
  async completeRunKey(key: string, connections: string[]): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `RUNKEY#${key}`, sk: 'RUNKEY' },
        UpdateExpression: 'SET #s = :started, connections = :c',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: { ':started': 'STARTED', ':c': connections },
      }),
    );
  }

  /** Adjusts the outstanding message count; at zero the run settles as SUCCEEDED, PARTIAL or FAILED. */
  async addPending(runId: string, delta: number): Promise<void> {
    await this.count(runId, delta);
  }

  /** addPending, answering the status this call settled the run with (undefined when it did not settle it). */
  private async count(runId: string, delta: number): Promise<RunStatus | undefined> {
    const now = this.now().toISOString();
    const out = await this.ddb
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `RUN#${runId}`, sk: 'RUN' },
          UpdateExpression: 'ADD pending :d SET updatedAt = :now',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':d': delta, ':now': now },
          ReturnValues: 'ALL_NEW',
        }),
      )
      .catch((err: unknown) => {
        if (isConditionFailure(err)) return undefined;
        throw err;
      });
    return this.settleIfDone(runId, out?.Attributes);
  }

  /**
   * The one settle path: a RUNNING run whose count reached zero settles (FAILED when a message ended in a DLQ,
   * PARTIAL when something was left out, else SUCCEEDED) and is announced once; a settled run that has work
   * again reopens.
   */
  private async settleIfDone(
    runId: string,
    item: Record<string, unknown> | undefined,
  ): Promise<RunStatus | undefined> {
    if (item && Number(item.pending) <= 0 && item.status === 'RUNNING') {
      if (await this.reconcileFirst(runId, item)) return undefined;
      const status: RunStatus =
        Number(item.failureCount ?? 0) > 0
          ? 'FAILED'
          : Number(item.gapCount ?? 0) > 0
            ? 'PARTIAL'
            : 'SUCCEEDED';
      if (await this.settleRun(runId, status)) {
        await this.announce(this, runId, status);
        return status;
      }
    } else if (item && Number(item.pending) > 0 && item.status !== 'RUNNING') {
      // More work arrived for a run that had settled (a redelivery, a late continuation).
      await this.settleRun(runId, 'RUNNING');
    }
    return undefined;
  }

  /**
   * A run whose messages are all done checks its control totals before it settles: the first caller to see
   * it so marks it (`reconcileStartedAt`) and counts one message per connection in the same write, so the
   * run cannot settle before they are done, then sends them. Not for a run that failed (it settles FAILED
   * anyway), one for a single invoice, or a ledger without a sender (tests, the runs API). True when the
   * run is not to settle now. A send that fails leaves a problem and settles the run (PARTIAL): its totals
   * were not checked.
   */
  private async reconcileFirst(runId: string, item: Record<string, unknown>): Promise<boolean> {
    const request = item.request as RunRequest | undefined;
    if (
      !this.startReconcile ||
      item.reconcileStartedAt ||
      Number(item.failureCount ?? 0) > 0 ||
      !request?.provider ||
      request.invoiceId ||
      !request.connections?.length
    ) {
      return false;
    }
    const n = request.connections.length;
    const out = await this.ddb
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `RUN#${runId}`, sk: 'RUN' },
          UpdateExpression: 'SET reconcileStartedAt = :now, updatedAt = :now ADD pending :n',
          ConditionExpression:
            'pending <= :zero AND #s = :running AND attribute_not_exists(reconcileStartedAt) AND ' +
            '(attribute_not_exists(failureCount) OR failureCount = :zero)',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':now': this.now().toISOString(),
            ':n': n,
            ':zero': 0,
            ':running': 'RUNNING',
          },
          ReturnValues: 'ALL_NEW',
        }),
      )
      .catch((err: unknown) => {
        if (!isConditionFailure(err)) throw err;
        return undefined;
      });
    if (!out?.Attributes) {
      // Another caller started them, or the run changed: settle (or not) on what the record says now.
      await this.count(runId, 0);
      return true;
    }
    try {
      await this.startReconcile(headOf(runId, out.Attributes));
    } catch (err) {
      for (const connection of request.connections) {
        await this.addProblem(runId, {
          connection,
          code: 'reconciliation.not-started',
          message: `control totals were not checked: ${(err as Error).message}`,
        });
      }
      await this.count(runId, -n);
    }
    return true;
  }

  /**
   * Conditional on what justified it: a run settles only while nothing is pending and reopens only while
   * something is, so a send that lands between the count and the settle cannot be overruled. True when this
   * call changed the status (so exactly one caller announces a settling). A reopened run is marked running
   * before its status changes, a settled one unmarked after (running-runs.ts).
   */
  private async settleRun(runId: string, status: RunStatus): Promise<boolean> {
    const reopening = status === 'RUNNING';
    const mark = reopening ? await this.running.mark(runId) : undefined;
    const out = await this.ddb
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `RUN#${runId}`, sk: 'RUN' },
          UpdateExpression: `SET #s = :s, updatedAt = :now${mark ? ', mark = :mark' : ''}`,
          ConditionExpression: reopening
            ? 'pending > :zero AND #s <> :running'
            : 'pending <= :zero AND #s = :running',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':s': status,
            ':now': this.now().toISOString(),
            ':zero': 0,
            ':running': 'RUNNING',
            ...(mark ? { ':mark': mark } : {}),
          },
          ReturnValues: 'ALL_NEW',
        }),
      )
      .catch((err: unknown) => {
        if (!isConditionFailure(err)) throw err;
        return undefined;
      });
    if (!out) return false;
    const settledMark = out.Attributes?.mark;
    if (!reopening && typeof settledMark === 'string') {
      // Never thrown: the run has settled, and a throw would send its message back to be counted again. A
      // marker left behind is dropped by the reconciler.
      await this.running.unmark(runId, settledMark).catch(() => undefined);
    }
    return true;
  }

  /** The runs marked RUNNING (a marker may outlive its run's RUNNING status: check the record). */
  runningRuns(): Promise<RunningMarker[]> {
    return this.running.list();
  }

  /** Drops a marker whose run is not RUNNING (or is gone), unless it was marked again since (`mark`). */
  dropRunningMarker(runId: string, mark: string): Promise<boolean> {
    return this.running.unmark(runId, mark);
  }

  /**
   * A message of the run that reached a DLQ without its function recording it (it timed out or ran out of
   * memory on its last receive, and SQS's redrive moved it). Recorded once per DLQ message, its id being the
   * failure's key, and taken off the run's pending count, which settles the run (FAILED) when it was the last.
   * Not a sign of the run moving: `updatedAt` stays, so the reconciler's age check is not reset by it.
   */
  async recordDeadMessage(
    runId: string,
    messageId: string,
    failure: Omit<RunFailure, 'at'>,
  ): Promise<{ recorded: boolean; settled?: RunStatus }> {
    const now = this.now();
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: `RUN#${runId}`,
            sk: `FAIL#dlq#${messageId}`,
            at: now.toISOString(),
            ...failure,
            expiresAt: ttl(RUN_TTL_DAYS, now),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (err) {
      if (isConditionFailure(err)) return { recorded: false };
      throw err;
    }
    // A crash between the two writes leaves the message counted as pending: the age check settles that run.
    const out = await this.ddb
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `RUN#${runId}`, sk: 'RUN' },
          UpdateExpression: 'ADD pending :minus, failureCount :one',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':minus': -1, ':one': 1 },
          ReturnValues: 'ALL_NEW',
        }),
      )
      .catch((err: unknown) => {
        if (isConditionFailure(err)) return undefined;
        throw err;
      });
    const settled = await this.settleIfDone(runId, out?.Attributes);
    return { recorded: true, ...(settled ? { settled } : {}) };
  }

  /**
   * Settles a run whose messages stopped moving, if it is still as `seen` left it (RUNNING, with the same
   * pending count and `updatedAt`: a run that moved since is left alone). Its pending count is dropped, the
   * reason kept on the record (GET /runs lists it as a failure of each of its connections), and it settles
   * FAILED through the same path as when its last message is done.
   */
  async stopRun(
    runId: string,
    seen: Pick<RunHead, 'pending' | 'updatedAt'>,
    reason: string,
  ): Promise<{ stopped: boolean; settled?: RunStatus }> {
    const now = this.now().toISOString();
    const out = await this.ddb
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `RUN#${runId}`, sk: 'RUN' },
          UpdateExpression: 'SET pending = :zero, stopped = :stopped, updatedAt = :now ADD failureCount :one',
          ConditionExpression: '#s = :running AND updatedAt = :seen AND pending = :pending',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':zero': 0,
            ':stopped': { at: now, reason },
            ':now': now,
            ':one': 1,
            ':running': 'RUNNING',
            ':seen': seen.updatedAt,
            ':pending': seen.pending,
          },
          ReturnValues: 'ALL_NEW',
        }),
      )
      .catch((err: unknown) => {
        if (isConditionFailure(err)) return undefined;
        throw err;
      });
    if (!out) return { stopped: false };
    const settled = await this.settleIfDone(runId, out.Attributes);
    return { stopped: true, ...(settled ? { settled } : {}) };
  }

  /**
   * Settles a RUNNING run whose count is already at zero: one whose settle was cut short after its count
   * dropped (by stopRun, or a last message). The status it settled with, if this call settled it.
   */
  settlePending(runId: string): Promise<RunStatus | undefined> {
    return this.count(runId, 0);
  }

  /** The run record without its counters, failures and problems (a consistent read). */
  async getRunHead(runId: string): Promise<RunHead | undefined> {
    const out = await this.ddb.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: `RUN#${runId}`, sk: 'RUN' },
        ConsistentRead: true,
      }),
    );
    return out.Item ? headOf(runId, out.Item) : undefined;
  }

  async addCounts(
    runId: string,
    connection: string,
    counts: Partial<Record<Counter, number>>,
  ): Promise<void> {
    const entries = Object.entries(counts).filter(([, n]) => n);
    if (!entries.length) return;
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':exp': ttl(RUN_TTL_DAYS, this.now()) };
    const adds = entries.map(([k, n], i) => {
      names[`#c${i}`] = k;
      values[`:n${i}`] = n;
      return `#c${i} :n${i}`;
    });
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `RUN#${runId}`, sk: `CONN#${connection}` },
        UpdateExpression: `ADD ${adds.join(', ')} SET expiresAt = :exp`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  /** A month file the run published (or asked the file's current writer to publish again). */
  async addMonthFile(runId: string, key: string): Promise<void> {
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: `RUN#${runId}`, sk: `FILE#${key}`, expiresAt: ttl(RUN_TTL_DAYS, this.now()) },
      }),
    );
  }

  async addFailure(runId: string, failure: RunFailure, id: string): Promise<void> {
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: `RUN#${runId}`,
          sk: `FAIL#${failure.at}#${id}`,
          ...failure,
          expiresAt: ttl(RUN_TTL_DAYS, this.now()),
        },
      }),
    );
    await this.bump(runId, 'failureCount');
  }

  /**
   * A problem of the run. One that left something out (kept raw, pending, not copied) makes the run
   * PARTIAL; a `note` (a normal state worth knowing, e.g. an item that landed another way) does not. A
   * problem is recorded once per run, named by what it says: work done again (a redelivered receive, a
   * listing's items handed back half done) reports it again, and it must not count twice.
   */
  async addProblem(
    runId: string,
    problem: { connection: string; code: string; message: string; key?: string; note?: boolean },
  ): Promise<void> {
    const at = this.now().toISOString();
    const { note, ...rest } = problem;
    const id = createHash('sha256')
      .update(JSON.stringify([rest.connection, rest.code, rest.message, rest.key ?? null, note ?? false]))
      .digest('hex')
      .slice(0, 32);
    const added = await this.ddb
      .send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: `RUN#${runId}`,
            sk: `PROBLEM#${id}`,
            at,
            ...rest,
            ...(note ? { note: true } : {}),
            expiresAt: ttl(RUN_TTL_DAYS, this.now()),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      )
      .then(
        () => true,
        (err: unknown) => {
          if (isConditionFailure(err)) return false;
          throw err;
        },
      );
    if (!added || note) return;
    await this.bump(runId, 'gapCount');
  }

  /** Adds one to a count on the run's record (the settle reads it); a run that is gone is no error. */
  private async bump(runId: string, field: 'failureCount' | 'gapCount'): Promise<void> {
    await this.ddb
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `RUN#${runId}`, sk: 'RUN' },
          UpdateExpression: `ADD ${field} :one`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':one': 1 },
        }),
      )
      .catch((err: unknown) => {
        if (!isConditionFailure(err)) throw err;
      });
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const items = await queryAll(this.ddb, this.table, `RUN#${runId}`);
    const item = items.find((i) => i.sk === 'RUN');
    if (!item) return undefined;
    const head = headOf(runId, item);
    const connections: RunRecord['connections'] = {};
    const failures: RunFailure[] = [];
    const problems: RunRecord['problems'] = [];
    const monthFiles: string[] = [];
    const reconciliations: Record<string, ReconciliationSummary> = {};
    for (const item of items) {
      const sk = String(item.sk);
      if (sk.startsWith('FILE#')) monthFiles.push(sk.slice(5));
      if (sk.startsWith('RECON#')) reconciliations[sk.slice(6)] = item.summary as ReconciliationSummary;
      if (sk.startsWith('CONN#')) {
        const { pk: _p, sk: _s, expiresAt: _e, ...counts } = item;
        connections[sk.slice(5)] = counts as Partial<Record<Counter, number>>;
      } else if (sk.startsWith('FAIL#')) {
        failures.push({
          at: String(item.at),
          connection: String(item.connection),
          messageType: String(item.messageType),
          reason: String(item.reason),
        });
      } else if (sk.startsWith('PROBLEM#')) {
        problems.push({
          at: String(item.at),
          connection: String(item.connection),
          code: String(item.code),
          message: String(item.message),
          ...(item.key ? { key: String(item.key) } : {}),
          ...(item.note ? { note: true } : {}),
        });
      }
    }
    if (head.stopped) {
      // Which connection's messages stopped is not known: the run's failure is each connection's.
      for (const connection of head.request.connections) {
        failures.push({
          at: head.stopped.at,
          connection,
          messageType: 'unknown',
          reason: head.stopped.reason,
        });
      }
    }
    const { status, createdAt, updatedAt, request, pending } = head;
    return {
      runId,
      status,
      createdAt,
      updatedAt,
      request,
      pending,
      connections,
      failures,
      // In the order they were first reported (their keys name what they say, not when).
      problems: problems.sort((a, b) => a.at.localeCompare(b.at)),
      monthFiles: monthFiles.sort(),
      reconciliations,
    };
  }
}

function headOf(runId: string, item: Record<string, unknown>): RunHead {
  const stopped = item.stopped as { at?: unknown; reason?: unknown } | undefined;
  return {
    runId,
    status: item.status as RunStatus,
    createdAt: String(item.createdAt),
    updatedAt: String(item.updatedAt),
    request: item.request as RunRequest,
    pending: Number(item.pending ?? 0),
    failureCount: Number(item.failureCount ?? 0),
    ...(stopped ? { stopped: { at: String(stopped.at), reason: String(stopped.reason) } } : {}),
  };
}
