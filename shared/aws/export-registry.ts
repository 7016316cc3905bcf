import { createHash } from 'node:crypto';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ProviderId } from '../config/schema.ts';
import type { ExportRecord, StateStore, StoredObject } from '../providers/types.ts';
import { isConditionFailure, ttl } from './state-table.ts';

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

/** A claim older than any invocation can live (Lambda's 900 s cap, plus margin) belongs to a dead creator. */
const CLAIM_STALE_MS = 20 * 60_000;
/** Export records outlive the runs that made them (a rerun months later still finds its export). */
const EXPORT_TTL_DAYS = 360;

/** The export registry: one record per export, claimed before the provider is asked to create it. */
export class ExportRegistry {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

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
      expiresAt: ttl(EXPORT_TTL_DAYS, now),
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
      // After an answer that may or may not have been acted on, the claim stays: the export may exist,
      // and the stale-claim path (with the provider's own lookup, where it has one) settles it, instead
      // of a retry creating a second one.
      if ((err as { ambiguous?: boolean })?.ambiguous) throw err;
      // Release the claim so the retry can create; the provider refused. If the claim was taken over
      // meanwhile there is nothing to release, and the provider's error is what matters.
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
