import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PendingDocuments } from '../../../shared/aws/pending-documents.ts';
import type { PendingDocumentMiss } from '../../../shared/providers/types.ts';
import { type StateTable, startStateTable } from '../../helpers/state-table.ts';

/**
 * The pending-documents part of the state table, against dynalite (DynamoDB's API in memory): a miss
 * recorded twice is one record with two attempts and its first-seen fields kept; a scope lists only its
 * own; a delete says whether it took the record, so a document is given up once.
 */

const TABLE = 'pending-test';
let db: StateTable;
let ddb: DynamoDBDocumentClient;
let now = new Date('2026-03-01T10:00:00Z');

const miss = (over: Partial<PendingDocumentMiss> = {}): PendingDocumentMiss => ({
  provider: 'amazon-ads',
  connection: 'ads-main',
  scope: '111',
  invoiceId: 'INV-1',
  name: 'INVOICE.pdf',
  type: 'INVOICE',
  key: 'documents/amazon-ads/ads-main/111/INV-1/INVOICE.pdf',
  issuedOn: '2026-02-27',
  code: 'DOCUMENT_LINK_EXPIRED',
  reason: 'the link was still expired after 8 fresh one(s)',
  ...over,
});

beforeAll(async () => {
  db = await startStateTable(TABLE);
  ddb = db.ddb;
});

afterAll(async () => {
  await db?.close();
});

describe('PendingDocuments', () => {
  const store = () => new PendingDocuments(ddb, TABLE, () => now);

  it('keeps one record per document: attempts counted, first-seen time and run kept, the last try updated', async () => {
    const first = await store().recordPendingDocument(miss(), 'run-1');
    expect(first).toMatchObject({
      attempts: 1,
      firstSeenAt: '2026-03-01T10:00:00.000Z',
      lastTriedAt: '2026-03-01T10:00:00.000Z',
      firstRunId: 'run-1',
      lastRunId: 'run-1',
    });
    now = new Date('2026-03-02T10:00:00Z');
    const second = await store().recordPendingDocument(
      miss({ code: 'DOCUMENT_PENDING', reason: 'the invoice no longer offers this document' }),
      'run-2',
    );
    expect(second).toEqual({
      ...miss({ code: 'DOCUMENT_PENDING', reason: 'the invoice no longer offers this document' }),
      attempts: 2,
      firstSeenAt: '2026-03-01T10:00:00.000Z',
      lastTriedAt: '2026-03-02T10:00:00.000Z',
      firstRunId: 'run-1',
      lastRunId: 'run-2',
    });
    const item = (
      await ddb.send(
        new GetCommand({
          TableName: TABLE,
          Key: { pk: 'PENDINGDOC#amazon-ads#ads-main', sk: '111#INV-1#INVOICE.pdf' },
        }),
      )
    ).Item!;
    // Housekeeping: the TTL counts from the last try.
    expect(item.expiresAt).toBe(Math.floor(now.getTime() / 1000) + 180 * 86_400);
  });

  it("lists a scope's records only (a scope that prefixes another's key included), or the whole connection's, oldest try first", async () => {
    now = new Date('2026-03-03T10:00:00Z');
    await store().recordPendingDocument(miss({ scope: '111#2', invoiceId: 'X', name: 'a.pdf' }), 'run-3');
    now = new Date('2026-03-01T12:00:00Z');
    await store().recordPendingDocument(miss({ invoiceId: 'INV-0', name: 'government.xml' }), 'run-3');
    await store().recordPendingDocument(miss({ connection: 'other' }), 'run-3');

    const scope = await store().listPendingDocuments('amazon-ads', 'ads-main', '111');
    expect(scope.map((d) => `${d.invoiceId}/${d.name}`)).toEqual([
      'INV-0/government.xml',
      'INV-1/INVOICE.pdf',
    ]);
    const all = await store().listPendingDocuments('amazon-ads', 'ads-main');
    expect(all.map((d) => d.scope)).toEqual(['111', '111', '111#2']);
    expect(await store().listPendingDocuments('cm360', 'ads-main')).toEqual([]);
  });

  it('says whether a delete took the record, so that only one caller reports it', async () => {
    const id = {
      provider: 'amazon-ads',
      connection: 'ads-main',
      scope: '111',
      invoiceId: 'INV-0',
      name: 'government.xml',
    } as const;
    expect(await store().deletePendingDocument(id)).toBe(true);
    expect(await store().deletePendingDocument(id)).toBe(false);
    const left = await store().listPendingDocuments('amazon-ads', 'ads-main', '111');
    expect(left.map((d) => d.invoiceId)).toEqual(['INV-1']);
  });
});
