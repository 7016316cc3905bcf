import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ProviderId } from '../config/schema.ts';
import type { Counter } from '../providers/types.ts';
import { announceRunCompleted } from './run-completed.ts';
import { isConditionFailure, ttl } from './state-table.ts';

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
}

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
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Creates the run record unless it exists; a new record starts with `pending` messages outstanding. */
  async ensureRun(runId: string, request: RunRequest, pending: number): Promise<boolean> {
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

  /** Adjusts the outstanding message count; at zero the run settles as SUCCEEDED or FAILED. */
  async addPending(runId: string, delta: number): Promise<void> {
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
    const item = out?.Attributes;
    if (item && Number(item.pending) <= 0 && item.status === 'RUNNING') {
      const status: RunStatus =
        Number(item.failureCount ?? 0) > 0
          ? 'FAILED'
          : Number(item.gapCount ?? 0) > 0
            ? 'PARTIAL'
            : 'SUCCEEDED';
      if (await this.settleRun(runId, status)) await announceRunCompleted(this, runId, status);
    } else if (item && Number(item.pending) > 0 && item.status !== 'RUNNING') {
      // More work arrived for a run that had settled (a redelivery, a late continuation).
      await this.settleRun(runId, 'RUNNING');
    }
  }

  /**
   * Conditional on what justified it: a run settles only while nothing is pending and reopens only while
   * something is, so a send that lands between the count and the settle cannot be overruled. True when this
   * call changed the status (so exactly one caller announces a settling).
   */
  private async settleRun(runId: string, status: RunStatus): Promise<boolean> {
    const reopening = status === 'RUNNING';
    return this.ddb
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `RUN#${runId}`, sk: 'RUN' },
          UpdateExpression: 'SET #s = :s, updatedAt = :now',
          ConditionExpression: reopening
            ? 'pending > :zero AND #s <> :running'
            : 'pending <= :zero AND #s = :running',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':s': status,
            ':now': this.now().toISOString(),
            ':zero': 0,
            ':running': 'RUNNING',
          },
        }),
      )
      .then(
        () => true,
        (err: unknown) => {
          if (!isConditionFailure(err)) throw err;
          return false;
        },
      );
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
   * PARTIAL; a `note` (a normal state worth knowing, e.g. an item that landed another way) does not.
   */
  async addProblem(
    runId: string,
    problem: { connection: string; code: string; message: string; key?: string; note?: boolean },
    id: string,
  ): Promise<void> {
    const at = this.now().toISOString();
    const { note, ...rest } = problem;
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: `RUN#${runId}`,
          sk: `PROBLEM#${at}#${id}`,
          at,
          ...rest,
          ...(note ? { note: true } : {}),
          expiresAt: ttl(RUN_TTL_DAYS, this.now()),
        },
      }),
    );
    if (note) return;
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
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.ddb.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `RUN#${runId}` },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    const head = items.find((i) => i.sk === 'RUN');
    if (!head) return undefined;
    const connections: RunRecord['connections'] = {};
    const failures: RunFailure[] = [];
    const problems: RunRecord['problems'] = [];
    for (const item of items) {
      const sk = String(item.sk);
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
    return {
      runId,
      status: head.status as RunStatus,
      createdAt: String(head.createdAt),
      updatedAt: String(head.updatedAt),
      request: head.request as RunRequest,
      pending: Number(head.pending ?? 0),
      connections,
      failures,
      problems,
    };
  }
}
