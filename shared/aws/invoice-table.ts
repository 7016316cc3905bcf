import { createHash, randomUUID } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  fileId,
  fileOf,
  type InvoiceTable,
  type Landed,
  type MonthFile,
  monthOf,
  type TableEntry,
} from '../engine/invoice-table.ts';
import type { InvoiceDocument, NormalizedInvoice } from '../invoice/model.ts';
import { isConditionFailure } from './state-table.ts';

/** DynamoDB's limits per BatchGetItem and BatchWriteItem call. */
const GET_BATCH = 100;
const WRITE_BATCH = 25;
/**
 * Month items read a Query at a time while a month is published. DynamoDB stops at 1 MB (about 2,500 items);
 * a smaller page keeps each answer's buffers, text and parsed items small (at 100,000 invoices the publish's
 * peak RSS fell from 227-252 MB to 199-218 MB on Node 24), for a few more round trips.
 */
const ENTRIES_PAGE = 1_000;
/** Unprocessed keys are sent again this many times (with a growing pause) before the call fails. */
const UNPROCESSED_TRIES = 8;

type Key = { pk: string; sk: string };
/**
 * An invoice's pointer: its month, the token of the write that put it there, its fingerprint, its raw
 * object's stamp (`r`), a hash of the entry it holds (`h`, fetch time left out) so an upsert of the same
 * entry writes nothing, and how many documents that entry holds (`n`: none, its month item is not read).
 */
type Pointer = { m: string; t: string; f?: string; r?: string; h?: string; n?: number };

/** What a pointer says of its invoice's last landing, as `landed` answers it. */
function landedOf(p: Pointer): Landed {
  return {
    ...(p.f ? { fingerprint: p.f } : {}),
    ...(p.r ? { raw: p.r } : {}),
    month: p.m,
    ...(p.h ? { hash: p.h } : {}),
    ...(p.n !== undefined ? { documents: p.n } : {}),
  };
}

/** Whether the landing `l` holds this entry (its month and hash), and with the same marks beside it. */
function holds(l: Landed | undefined, e: TableEntry, hash: string | undefined) {
  const entry = l?.hash !== undefined && l.hash === hash && l.month === monthOf(e.invoice);
  const marks =
    l?.fingerprint === e.fingerprint && l?.raw === e.raw && l?.documents === e.invoice.documents.length;
  return { entry, marks };
}

function identityPk(file: Omit<MonthFile, 'month'>): string {
  return `INVOICE#${[file.provider, file.connection, file.scope].map(encodeURIComponent).join('#')}`;
}

function monthPk(file: MonthFile): string {
  return `INVMONTH#${fileId(file)}`;
}

function pointerKey(invoice: NormalizedInvoice): Key {
  return { pk: identityPk(fileOf(invoice)), sk: `ID#${invoice.invoiceId}` };
}

function identity(invoice: NormalizedInvoice): string {
  const { pk, sk } = pointerKey(invoice);
  return pk + sk;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A preset deflate dictionary: the names and common values of a normalized invoice, so a small record
 * compresses to about a third of its JSON instead of a half (each byte an item is written, read and
 * billed). Never change it: items written with it are read with it. A new one needs a new attribute.
 */
const DICTIONARY = Buffer.from(
  JSON.stringify({
    invoice: {
      provider: 'amazon-ads',
      connection: '',
      account: '',
      invoiceId: '',
      invoiceNumber: null,
      kind: 'INVOICE',
      status: null,
      issuedOn: '',
      dueOn: null,
      servicePeriod: { from: null, to: null },
      currency: 'USD',
      subtotal: null,
      tax: null,
      total: null,
      amountDue: '0.00',
      remainingDue: '0.00',
      purchaseOrderNumber: null,
      correctsInvoiceId: null,
      replacesInvoiceIds: [],
      documents: [
        { type: 'invoice-pdf', key: 'documents/sp-api/cm360/amazon-business/', sha256: '', bytes: 0 },
      ],
      rawKey: 'raw/',
      fetchedAt: 'T00:00:00.000Z',
    },
    match: { externalInvoiceId: '', series: '' },
  }),
);

function pack(entry: TableEntry): Buffer {
  const kept = entry.match ? { invoice: entry.invoice, match: entry.match } : { invoice: entry.invoice };
  return deflateRawSync(JSON.stringify(kept), {
    dictionary: DICTIONARY,
  });
}

/** What an entry says, fetch time aside: the same invoice fetched again hashes the same. */
function contentHash(entry: TableEntry): string {
  const { fetchedAt: _f, ...invoice } = entry.invoice;
  return createHash('sha256')
    .update(JSON.stringify({ invoice, match: entry.match ?? null }))
    .digest('base64url')
    .slice(0, 22);
}

function unpack(d: Uint8Array): TableEntry {
  return JSON.parse(inflateRawSync(d, { dictionary: DICTIONARY }).toString('utf8')) as TableEntry;
}

/**
 * The invoice table in the state table. Two items an invoice:
 *   INVOICE#<provider>#<connection>#<scope>           / ID#<invoiceId>  pointer: month `m`, token `t`,
 *                                                                       fingerprint `f`, raw stamp `r`,
 *                                                                       entry hash `h`, documents `n`
 *   INVMONTH#<provider>#<connection>#<scope>#<month>  / ID#<invoiceId>  the entry, deflated `d`, token `t`
 * (the table's layout is in state-table.ts)
 * An upsert writes the month item, then the pointer, then (when the month changed) deletes the old month
 * item if it still holds the token the pointer had, so a concurrent writer's newer item is never removed.
 * The pointer decides: a month item whose pointer names another month is stale (a writer lost a race, or
 * died between its writes) and is skipped when the month is read, so each invoice is published once.
 * Everything is a batch call but the rare deletes, and nothing needs transactions (dynalite has none).
 */
export class DynamoInvoiceTable implements InvoiceTable {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async upsert(entries: readonly TableEntry[]): Promise<MonthFile[]> {
    const latest = new Map<string, TableEntry>();
    for (const e of entries) latest.set(identity(e.invoice), e);
    const hashes = new Map([...latest].map(([id, e]) => [id, contentHash(e)]));
    // An entry the pointer said moments ago (`before`, from the listing's one read) is held as it is, in
    // every part, is neither read again nor written: an open invoice worked again and found the same.
    const held = (l: Landed | undefined, e: TableEntry) => holds(l, e, hashes.get(identity(e.invoice)));
    const list = [...latest.values()].filter((e) => {
      const { entry, marks } = held(e.before, e);
      return !(entry && marks);
    });
    if (list.length === 0) return [];

    const pointers = await this.pointers(list.map((e) => pointerKey(e.invoice)));
    const token = randomUUID().slice(0, 13);
    // An entry the table already holds, in the same month, is not written again and touches no month file
    // (only its pointer, when its fingerprint changed): a rerun over unchanged invoices republishes nothing.
    const current = (e: TableEntry) => {
      const p = pointers.get(identity(e.invoice));
      return held(p && landedOf(p), e);
    };
    const changed = list.filter((e) => !current(e).entry);
    const refingerprinted = list.filter((e) => {
      const { entry, marks } = current(e);
      return entry && !marks;
    });
    await this.writeAll(
      changed.map((e) => ({
        PutRequest: {
          Item: {
            pk: monthPk(fileOf(e.invoice)),
            sk: `ID#${e.invoice.invoiceId}`,
            t: token,
            d: pack(e),
          },
        },
      })),
    );
    await this.writeAll([
      ...changed.map((e) => ({
        PutRequest: {
          Item: {
            ...pointerKey(e.invoice),
            m: monthOf(e.invoice),
            t: token,
            f: e.fingerprint,
            r: e.raw,
            h: hashes.get(identity(e.invoice)),
            n: e.invoice.documents.length,
          },
        },
      })),
      // The month item keeps its token: the pointer must keep naming it.
      ...refingerprinted.map((e) => ({
        PutRequest: {
          Item: {
            ...pointerKey(e.invoice),
            ...pointers.get(identity(e.invoice)),
            f: e.fingerprint,
            r: e.raw,
            n: e.invoice.documents.length,
          },
        },
      })),
    ]);

    const touched = new Map<string, MonthFile>();
    for (const e of changed) {
      const file = fileOf(e.invoice);
      touched.set(fileId(file), file);
      const before = pointers.get(identity(e.invoice));
      if (before && before.m !== file.month) {
        const left = { ...file, month: before.m };
        touched.set(fileId(left), left);
        await this.deleteIfToken({ pk: monthPk(left), sk: `ID#${e.invoice.invoiceId}` }, before.t);
      }
    }
    return [...touched.values()];
  }

  async landed(scope: Omit<MonthFile, 'month'>, invoiceIds: readonly string[]): Promise<Map<string, Landed>> {
    const pk = identityPk(scope);
    const pointers = await this.pointers(invoiceIds.map((id) => ({ pk, sk: `ID#${id}` })));
    const out = new Map<string, Landed>();
    for (const id of invoiceIds) {
      const p = pointers.get(`${pk}ID#${id}`);
      if (p?.f || p?.r) out.set(id, landedOf(p));
    }
    return out;
  }

  async documents(
    scope: Omit<MonthFile, 'month'>,
    months: ReadonlyMap<string, string>,
  ): Promise<Map<string, InvoiceDocument[]>> {
    const keys: Key[] = [];
    for (const [id, month] of months) keys.push({ pk: monthPk({ ...scope, month }), sk: `ID#${id}` });
    const out = new Map<string, InvoiceDocument[]>();
    for (const item of await this.batchGet(keys, ['d'], 'entries')) {
      const { invoice } = unpack(item.d as Uint8Array);
      out.set(invoice.invoiceId, invoice.documents);
    }
    return out;
  }

  async *entries(file: MonthFile): AsyncIterable<TableEntry> {
    let start: Record<string, unknown> | undefined;
    const scope = identityPk(file);
    do {
      const page = await this.ddb.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': monthPk(file) },
          ProjectionExpression: '#sk, #t, #d',
          ExpressionAttributeNames: { '#sk': 'sk', '#t': 't', '#d': 'd' },
          ConsistentRead: true,
          Limit: ENTRIES_PAGE,
          ExclusiveStartKey: start,
        }),
      );
      start = page.LastEvaluatedKey;
      const items = page.Items ?? [];
      const pointers = await this.pointers(items.map((i) => ({ pk: scope, sk: String(i.sk) })));
      for (const item of items) {
        // Not deleted here: a writer may be between its month item and its pointer, and publishes after.
        if (pointers.get(scope + String(item.sk))?.m !== file.month) continue;
        yield unpack(item.d as Uint8Array);
      }
    } while (start);
  }

  async publish(file: MonthFile, leaseUntil: number, write: () => Promise<void>): Promise<boolean> {
    const key = { pk: `PUBLISH#${fileId(file)}`, sk: 'PUBLISH' };
    const names = { '#w': 'wanted', '#h': 'holder', '#l': 'leaseUntil' };
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: key,
        UpdateExpression: 'ADD #w :one',
        ExpressionAttributeNames: { '#w': 'wanted' },
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
    const me = randomUUID();
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key,
          UpdateExpression: 'SET #h = :me, #l = :until',
          ConditionExpression: 'attribute_not_exists(#h) OR #l < :now',
          ExpressionAttributeNames: { '#h': 'holder', '#l': 'leaseUntil' },
          ExpressionAttributeValues: { ':me': me, ':until': leaseUntil, ':now': this.now().getTime() },
        }),
      );
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
    for (;;) {
      const held = await this.ddb.send(
        new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }),
      );
      const seen = Number(held.Item?.wanted ?? 0);
      try {
        await write();
      } catch (err) {
        await this.ddb
          .send(
            new UpdateCommand({
              TableName: this.table,
              Key: key,
              UpdateExpression: 'REMOVE #h, #l',
              ConditionExpression: '#h = :me',
              ExpressionAttributeNames: { '#h': 'holder', '#l': 'leaseUntil' },
              ExpressionAttributeValues: { ':me': me },
            }),
          )
          .catch(() => undefined);
        throw err;
      }
      try {
        await this.ddb.send(
          new UpdateCommand({
            TableName: this.table,
            Key: key,
            UpdateExpression: 'REMOVE #h, #l',
            // Released only if nobody asked again while the file was written; else it is written again.
            ConditionExpression: '#h = :me AND #w = :seen',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':me': me, ':seen': seen },
          }),
        );
        return true;
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
        const now = await this.ddb.send(
          new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }),
        );
        // Held past the lease, another writer took the file over and writes it after what it saw.
        if (now.Item?.holder !== me) return false;
      }
    }
  }

  /** The pointers of these keys, by pk + sk; read a partition at a time, so answers need not repeat pk. */
  private async pointers(keys: readonly Key[]): Promise<Map<string, Pointer>> {
    const out = new Map<string, Pointer>();
    const byPk = new Map<string, Key[]>();
    for (const k of keys) {
      const group = byPk.get(k.pk);
      if (group) group.push(k);
      else byPk.set(k.pk, [k]);
    }
    for (const [pk, group] of byPk) {
      for (const item of await this.batchGet(group, ['sk', 'm', 't', 'f', 'r', 'h', 'n'], 'pointers')) {
        out.set(pk + String(item.sk), {
          m: String(item.m),
          t: String(item.t),
          ...(item.f ? { f: String(item.f) } : {}),
          ...(item.r ? { r: String(item.r) } : {}),
          ...(item.h ? { h: String(item.h) } : {}),
          ...(item.n !== undefined ? { n: Number(item.n) } : {}),
        });
      }
    }
    return out;
  }

  /**
   * The items of these keys (only the attributes named), consistent reads, 100 keys a call; keys DynamoDB
   * leaves unprocessed are asked again after a growing pause, and the read fails after UNPROCESSED_TRIES.
   */
  private async batchGet(
    keys: readonly Key[],
    attributes: readonly string[],
    what: string,
  ): Promise<Record<string, unknown>[]> {
    const names = Object.fromEntries(attributes.map((a) => [`#${a}`, a]));
    const projection = Object.keys(names).join(', ');
    const items: Record<string, unknown>[] = [];
    for (let i = 0; i < keys.length; i += GET_BATCH) {
      let pending: Key[] = keys.slice(i, i + GET_BATCH);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= UNPROCESSED_TRIES) throw new Error(`invoice table: ${what} not read (throttled)`);
        if (attempt > 0) await pause(25 * 2 ** attempt);
        const got = await this.ddb.send(
          new BatchGetCommand({
            RequestItems: {
              [this.table]: {
                Keys: pending,
                ConsistentRead: true,
                ProjectionExpression: projection,
                ExpressionAttributeNames: names,
              },
            },
          }),
        );
        items.push(...(got.Responses?.[this.table] ?? []));
        pending = (got.UnprocessedKeys?.[this.table]?.Keys ?? []) as Key[];
      }
    }
    return items;
  }

  private async writeAll(requests: readonly Record<string, unknown>[]): Promise<void> {
    for (let i = 0; i < requests.length; i += WRITE_BATCH) {
      let pending: Record<string, unknown>[] | undefined = requests.slice(i, i + WRITE_BATCH);
      for (let attempt = 0; pending && pending.length > 0; attempt++) {
        if (attempt >= UNPROCESSED_TRIES) throw new Error('invoice table: items not written (throttled)');
        if (attempt > 0) await pause(25 * 2 ** attempt);
        const out = await this.ddb.send(
          new BatchWriteCommand({ RequestItems: { [this.table]: pending as never } }),
        );
        pending = out.UnprocessedItems?.[this.table] as Record<string, unknown>[] | undefined;
      }
    }
  }

  private async deleteIfToken(key: Key, token: string): Promise<void> {
    try {
      await this.ddb.send(
        new DeleteCommand({
          TableName: this.table,
          Key: key,
          ConditionExpression: '#t = :t',
          ExpressionAttributeNames: { '#t': 't' },
          ExpressionAttributeValues: { ':t': token },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }
}
