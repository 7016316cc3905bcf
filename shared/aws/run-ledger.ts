import { type DynamoDBDocumentClient, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
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
    await this.ddb
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `RUN#${runId}`, sk: 'RUN' },
          UpdateExpression: 'ADD failureCount :one',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':one': 1 },
        }),
      )
      .catch((err: unknown) => {
        if (!isConditionFailure(err)) throw err;
      });
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
    await this.ddb
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `RUN#${runId}`, sk: 'RUN' },
          UpdateExpression: 'ADD gapCount :one',
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
