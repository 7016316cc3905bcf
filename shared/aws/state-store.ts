import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ProviderId } from '../config/schema.ts';
import type { Counter, ExportRecord, StateStore, StoredObject } from '../providers/types.ts';

/**
 * One DynamoDB table (pk, sk) holds:
 *   EXPORT#<key>            / EXPORT          the export registry (find-before-create)
 *   WATERMARK#<prov>#<conn> / <scope>         how far a scope has been fetched
 *   RUN#<runId>             / RUN             what was asked, pending message count, status
 *   RUN#<runId>             / CONN#<conn>     counters per connection
 *   RUN#<runId>             / FAIL#|PROBLEM#  failures and reported problems
 */

/** A claim older than any invocation can live (Lambda's 900 s cap, plus margin) belongs to a dead creator. */
const CLAIM_STALE_MS = 20 * 60_000;
const RUN_TTL_DAYS = 90;

export class ExportBusyError extends Error {
  override name = 'ExportBusyError';
}

/** Export registry key: provider, connection, scope, and the window and filters, in a stable order. */
export function exportKey(
  provider: ProviderId,
  connection: string,
  scope: string,
  parts: Record<string, string | number | boolean | readonly string[] | undefined>,
): string {
  const canonical = Object.keys(parts)
    .sort()
    .filter((k) => parts[k] !== undefined)
    .map((k) => {
      const v = parts[k];
      return `${k}=${Array.isArray(v) ? [...v].sort().join(',') : String(v)}`;
    })
    .join('&');
  const digest = createHash('sha256').update(canonical).digest('hex').slice(0, 16);
  return `${provider}|${connection}|${scope}|${digest}`;
}

export type RunStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED';

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
  problems: Array<{ at: string; connection: string; code: string; message: string; key?: string }>;
}

function ttl(days: number, now: Date): number {
  return Math.floor(now.getTime() / 1000) + days * 86_400;
}

function isConditionFailure(err: unknown): boolean {
  return (
    err instanceof ConditionalCheckFailedException ||
    (err as Error)?.name === 'ConditionalCheckFailedException'
  );
}

export class DynamoStateStore implements StateStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  // ---- export registry ----

  async getExport(key: string): Promise<ExportRecord | undefined> {
    const out = await this.ddb.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: `EXPORT#${key}`, sk: 'EXPORT' },
        ConsistentRead: true,
      }),
    );
    return out.Item ? toExport(out.Item) : undefined;
  }

  async findOrCreateExport(
    input: Parameters<StateStore['findOrCreateExport']>[0],
    create: () => Promise<{ exportId: string; details?: Record<string, unknown> }>,
  ): Promise<{ record: ExportRecord; created: boolean }> {
    const existing = await this.getExport(input.key);
    // A failed or expired export is replaced on a rerun; anything else is reused, never duplicated.
    const replaceable = existing && (existing.state === 'FAILED' || existing.state === 'EXPIRED');
    if (existing && !replaceable) {
      if (existing.exportId) return { record: existing, created: false };
      const claimedAt = Date.parse(existing.createdAt);
      if (this.now().getTime() - claimedAt < CLAIM_STALE_MS) {
        throw new ExportBusyError(`export ${input.key} is being created by another invocation`);
      }
    }
    const now = this.now();
    const claim: Record<string, unknown> = {
      pk: `EXPORT#${input.key}`,
      sk: 'EXPORT',
      key: input.key,
      provider: input.provider,
      connection: input.connection,
      scope: input.scope,
      runId: input.runId,
      details: input.details ?? {},
      state: 'CREATING',
      createdAt: now.toISOString(),
      deadline: new Date(now.getTime() + input.deadlineMs).toISOString(),
      attempts: 0,
      copied: {},
      expiresAt: ttl(RUN_TTL_DAYS * 4, now),
    };
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          Item: claim,
          // Claim only what we saw: nothing, a stale claim, or a failed export being replaced.
          ConditionExpression: existing ? '#s = :seen AND createdAt = :seenAt' : 'attribute_not_exists(pk)',
          ...(existing
            ? {
                ExpressionAttributeNames: { '#s': 'state' },
                ExpressionAttributeValues: { ':seen': existing.state, ':seenAt': existing.createdAt },
              }
            : {}),
        }),
      );
    } catch (err) {
      if (isConditionFailure(err)) {
        const winner = await this.getExport(input.key);
        if (winner?.exportId) return { record: winner, created: false };
        throw new ExportBusyError(`export ${input.key} is being created by another invocation`);
      }
      throw err;
    }
    let made: { exportId: string; details?: Record<string, unknown> };
    try {
      made = await create();
    } catch (err) {
      // Release the claim so the retry can create; the provider refused or never answered. If the claim was
      // taken over meanwhile there is nothing to release, and the provider's error is what matters.
      await this.ddb
        .send(
          new DeleteCommand({
            TableName: this.table,
            Key: { pk: `EXPORT#${input.key}`, sk: 'EXPORT' },
            ConditionExpression: '#s = :c AND createdAt = :at',
            ExpressionAttributeNames: { '#s': 'state' },
            ExpressionAttributeValues: { ':c': 'CREATING', ':at': claim.createdAt },
          }),
        )
        .catch(() => undefined);
      throw err;
    }
    const details = { ...(input.details ?? {}), ...(made.details ?? {}) };
    try {
      // Only our own claim becomes the export: one that took a stale claim over keeps what it made.
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `EXPORT#${input.key}`, sk: 'EXPORT' },
          UpdateExpression: 'SET exportId = :id, #s = :pending, details = :details',
          ConditionExpression: '#s = :creating AND createdAt = :at',
          ExpressionAttributeNames: { '#s': 'state' },
          ExpressionAttributeValues: {
            ':id': made.exportId,
            ':pending': 'PENDING',
            ':details': details,
            ':creating': 'CREATING',
            ':at': claim.createdAt,
          },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      const winner = await this.getExport(input.key);
      if (winner?.exportId) return { record: winner, created: false };
      throw new ExportBusyError(`export ${input.key} is being created by another invocation`);
    }
    const record = await this.getExport(input.key);
    if (!record) throw new Error(`export ${input.key} vanished after creation`);
    return { record, created: true };
  }

  async updateExport(key: string, patch: Partial<Omit<ExportRecord, 'key'>>): Promise<void> {
    const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
    if (!entries.length) return;
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets = entries.map(([k, v], i) => {
      names[`#k${i}`] = k;
      values[`:v${i}`] = v;
      return `#k${i} = :v${i}`;
    });
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `EXPORT#${key}`, sk: 'EXPORT' },
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  async recordCopy(key: string, documentId: string, stored: StoredObject): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `EXPORT#${key}`, sk: 'EXPORT' },
        UpdateExpression: 'SET copied.#d = :s',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#d': documentId },
        ExpressionAttributeValues: { ':s': stored },
      }),
    );
  }

  async countAttempt(key: string): Promise<number> {
    const out = await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `EXPORT#${key}`, sk: 'EXPORT' },
        UpdateExpression: 'ADD attempts :one',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(out.Attributes?.attempts ?? 0);
  }

  // ---- watermarks ----

  async getWatermark(provider: ProviderId, connection: string, scope: string): Promise<string | undefined> {
    const out = await this.ddb.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: `WATERMARK#${provider}#${connection}`, sk: scope },
        ConsistentRead: true,
      }),
    );
    return out.Item?.date as string | undefined;
  }

  async setWatermark(provider: ProviderId, connection: string, scope: string, date: string): Promise<void> {
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: `WATERMARK#${provider}#${connection}`,
            sk: scope,
            date,
            updatedAt: this.now().toISOString(),
          },
          ConditionExpression: 'attribute_not_exists(pk) OR #d < :d',
          ExpressionAttributeNames: { '#d': 'date' },
          ExpressionAttributeValues: { ':d': date },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }

  // ---- runs ----

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
      await this.settleRun(runId, Number(item.failureCount ?? 0) > 0 ? 'FAILED' : 'SUCCEEDED');
    } else if (item && Number(item.pending) > 0 && item.status !== 'RUNNING') {
      // More work arrived for a run that had settled (a redelivery, a late continuation).
      await this.settleRun(runId, 'RUNNING');
    }
  }

  /**
   * Conditional on what justified it: a run settles only while nothing is pending and reopens only while
   * something is, so a send that lands between the count and the settle cannot be overruled.
   */
  private async settleRun(runId: string, status: RunStatus): Promise<void> {
    const reopening = status === 'RUNNING';
    await this.ddb
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
      .catch((err: unknown) => {
        if (!isConditionFailure(err)) throw err;
      });
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

  async addProblem(
    runId: string,
    problem: { connection: string; code: string; message: string; key?: string },
    id: string,
  ): Promise<void> {
    const at = this.now().toISOString();
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: `RUN#${runId}`,
          sk: `PROBLEM#${at}#${id}`,
          at,
          ...problem,
          expiresAt: ttl(RUN_TTL_DAYS, this.now()),
        },
      }),
    );
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

function toExport(item: Record<string, unknown>): ExportRecord {
  return {
    key: String(item.key),
    provider: item.provider as ProviderId,
    connection: String(item.connection),
    scope: String(item.scope),
    ...(item.exportId ? { exportId: String(item.exportId) } : {}),
    state: item.state as ExportRecord['state'],
    createdAt: String(item.createdAt),
    deadline: String(item.deadline),
    attempts: Number(item.attempts ?? 0),
    copied: (item.copied as Record<string, StoredObject>) ?? {},
    runId: String(item.runId),
    ...(item.error ? { error: item.error as { code: string; message: string } } : {}),
    ...(item.details ? { details: item.details as Record<string, unknown> } : {}),
  };
}
