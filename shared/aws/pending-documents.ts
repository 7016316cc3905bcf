import { DeleteCommand, type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ProviderId } from '../config/schema.ts';
import type { PendingDocument, PendingDocumentId, PendingDocumentMiss } from '../providers/types.ts';
import { isConditionFailure, queryAll, ttl } from './state-table.ts';

/**
 * Housekeeping only: every run of a scope tries its pending documents again (each attempt rewrites the
 * record and its expiry) and gives them up at PENDING_DOCUMENT_MAX_AGE_DAYS, so a record left untouched
 * this long belongs to a connection or scope that no longer runs.
 */
const PENDING_TTL_DAYS = 180;

/** A problem message is kept whole in the run record; here the last one is enough to say why. */
const REASON_MAX = 1_000;

const pk = (provider: ProviderId, connection: string) => `PENDINGDOC#${provider}#${connection}`;
const sk = (id: Pick<PendingDocumentId, 'scope' | 'invoiceId' | 'name'>) =>
  `${id.scope}#${id.invoiceId}#${id.name}`;

/** Documents that could not be landed, one record each, retried by later runs (README "How it flows"). */
export class PendingDocuments {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async listPendingDocuments(
    provider: ProviderId,
    connection: string,
    scope?: string,
  ): Promise<PendingDocument[]> {
    const items = await queryAll(this.ddb, this.table, pk(provider, connection), {
      ...(scope === undefined ? {} : { prefix: `${scope}#` }),
    });
    return (
      items
        .map(toPending)
        // A scope that contains '#' could share a prefix with another: the record's own scope decides.
        .filter((d) => scope === undefined || d.scope === scope)
        .sort((a, b) => a.lastTriedAt.localeCompare(b.lastTriedAt) || sk(a).localeCompare(sk(b)))
    );
  }

  async recordPendingDocument(miss: PendingDocumentMiss, runId: string): Promise<PendingDocument> {
    const now = this.now();
    const at = now.toISOString();
    const set: Record<string, unknown> = {
      provider: miss.provider,
      connection: miss.connection,
      scope: miss.scope,
      invoiceId: miss.invoiceId,
      name: miss.name,
      type: miss.type,
      key: miss.key,
      ...(miss.issuedOn ? { issuedOn: miss.issuedOn } : {}),
      code: miss.code,
      reason: miss.reason.slice(0, REASON_MAX),
      lastTriedAt: at,
      lastRunId: runId,
      expiresAt: ttl(PENDING_TTL_DAYS, now),
    };
    const names: Record<string, string> = { '#first': 'firstSeenAt', '#firstRun': 'firstRunId' };
    const values: Record<string, unknown> = { ':now': at, ':run': runId, ':one': 1 };
    const sets = Object.entries(set).map(([k, v], i) => {
      names[`#k${i}`] = k;
      values[`:v${i}`] = v;
      return `#k${i} = :v${i}`;
    });
    const out = await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: pk(miss.provider, miss.connection), sk: sk(miss) },
        UpdateExpression: `SET ${sets.join(', ')}, #first = if_not_exists(#first, :now), #firstRun = if_not_exists(#firstRun, :run) ADD attempts :one`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return toPending(out.Attributes ?? {});
  }

  async deletePendingDocument(id: PendingDocumentId): Promise<boolean> {
    try {
      await this.ddb.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: pk(id.provider, id.connection), sk: sk(id) },
          // So that of two runs giving one document up, or landing it, only one says so.
          ConditionExpression: 'attribute_exists(pk)',
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }
}

function toPending(item: Record<string, unknown>): PendingDocument {
  return {
    provider: item.provider as ProviderId,
    connection: String(item.connection),
    scope: String(item.scope),
    invoiceId: String(item.invoiceId),
    name: String(item.name),
    type: String(item.type),
    key: String(item.key),
    ...(item.issuedOn ? { issuedOn: String(item.issuedOn) } : {}),
    code: String(item.code),
    reason: String(item.reason ?? ''),
    attempts: Number(item.attempts ?? 0),
    firstSeenAt: String(item.firstSeenAt),
    lastTriedAt: String(item.lastTriedAt),
    firstRunId: String(item.firstRunId),
    lastRunId: String(item.lastRunId),
  };
}
