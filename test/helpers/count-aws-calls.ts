import { type Channel, channel } from 'node:diagnostics_channel';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Endpoints } from '../../infra/local/standins.ts';

/**
 * Every call the functions make to the local S3, DynamoDB and SQS stand-ins, counted as AWS bills them. The
 * stand-ins are HTTP servers in this process, so Node's `http.server.request.start` channel sees each
 * request whichever worker thread sent it; nothing in the functions or the stack changes.
 *
 * - S3: requests by operation (PutObject, UploadPart, HeadObject...), PUT-class ones also by what the key
 *   holds (page, raw invoice, document, month file...), with the bytes sent.
 * - DynamoDB: calls by operation and the request units they consume, from the items in the request and
 *   the answer (dynalite's own item size): writes 1 WRU a KB an item; consistent reads 1 RRU per 4 KB an
 *   item (BatchGetItem, GetItem, a missing item 1) or per 4 KB of all items (Query). The functions do not
 *   ask for ReturnConsumedCapacity, so UpdateItem, a conditional Put or Delete whose item the answer does
 *   not show counts 1 WRU: their items (counters, leases, watermarks, run records) are small.
 * - SQS: requests by operation, and messages sent (SendMessage, each SendMessageBatch entry).
 */

export type S3Kind =
  | 'page'
  | 'raw-invoice'
  | 'raw-other'
  | 'document'
  | 'month-file'
  | 'report'
  | 'export'
  | 'reconciliation'
  | 'other';

export interface AwsCalls {
  s3: {
    /** Requests by operation. */
    requests: Record<string, number>;
    /** PUT-class requests that write (PutObject, CopyObject, UploadPart, multipart create and complete), by kind of key. */
    writes: Partial<Record<S3Kind, number>>;
    /** Bytes sent by PutObject and UploadPart, by kind of key. */
    bytes: Partial<Record<S3Kind, number>>;
    /** GetObject and HeadObject requests, by kind of key. */
    reads: Partial<Record<S3Kind, number>>;
  };
  /** By operation: calls, request units, and the items read (Query, Scan, GetItem, BatchGetItem answers). */
  dynamodb: Record<string, DynamoCount>;
  sqs: { requests: Record<string, number>; messages: number };
}

export interface AwsCallCounter {
  /** What was counted so far (a copy). */
  snapshot(): AwsCalls;
  stop(): void;
}

const dynaliteDb = createRequire(import.meta.url)('dynalite/db/index.js') as {
  itemSize(item: Record<string, unknown>): number;
};

type Item = Record<string, unknown>;

export interface DynamoCount {
  calls: number;
  rru: number;
  wru: number;
  items: number;
  /** Size of those items, and of the items written (BatchWriteItem, PutItem), by DynamoDB's rules. */
  bytes: number;
}

export function emptyCalls(): AwsCalls {
  return {
    s3: { requests: {}, writes: {}, bytes: {}, reads: {} },
    dynamodb: {},
    sqs: { requests: {}, messages: 0 },
  };
}

/** The operation name a Query of the invoice table's month items (a month file's publish) is counted under. */
export const MONTH_ITEMS_QUERY = 'Query INVMONTH#';

/** Whether a Query reads an invoice table month (its partition key INVMONTH#..., shared/aws/invoice-table.ts). */
function monthItemsPk(body: Item): boolean {
  const pk = (body.ExpressionAttributeValues as Record<string, { S?: string }> | undefined)?.[':pk']?.S;
  return pk?.startsWith('INVMONTH#') ?? false;
}

/** What a key holds, from the S3 layout (README, "The S3 layout"). */
export function kindOf(key: string): S3Kind {
  if (key.startsWith('raw/')) {
    if (key.includes('/_payloads/')) return /_p\d{4}(_|\.json$)/.test(key) ? 'page' : 'raw-other';
    return /\/\d{4}\/\d{2}\/[^/]+\.json$/.test(key) ? 'raw-invoice' : 'raw-other';
  }
  if (key.startsWith('documents/')) return 'document';
  if (key.startsWith('invoices/')) return 'month-file';
  if (key.startsWith('reconciliation/')) return 'reconciliation';
  if (key.startsWith('reports/')) return 'report';
  if (key.startsWith('exports/')) return 'export';
  return 'other';
}

function s3Operation(req: IncomingMessage, url: URL, hasKey: boolean): string {
  const q = url.searchParams;
  switch (req.method) {
    case 'PUT':
      if (!hasKey) return q.size ? 'PutBucketConfig' : 'CreateBucket';
      if (q.has('partNumber')) return 'UploadPart';
      return req.headers['x-amz-copy-source'] ? 'CopyObject' : 'PutObject';
    case 'POST':
      if (q.has('uploads')) return 'CreateMultipartUpload';
      if (q.has('uploadId')) return 'CompleteMultipartUpload';
      if (q.has('delete')) return 'DeleteObjects';
      return 'PostObject';
    case 'GET':
      return hasKey ? 'GetObject' : 'ListObjects';
    case 'HEAD':
      return hasKey ? 'HeadObject' : 'HeadBucket';
    case 'DELETE':
      return q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    default:
      return req.method ?? 'UNKNOWN';
  }
}

const WRITES = new Set([
  'PutObject',
  'CopyObject',
  'UploadPart',
  'CreateMultipartUpload',
  'CompleteMultipartUpload',
]);

const bump = (o: Record<string, number>, k: string, n = 1) => {
  o[k] = (o[k] ?? 0) + n;
};

/** Reads a request's body beside its own reader (which the server attaches in the same tick). */
function bodyOf(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(''));
  });
}

/** The body the server answers with (dynalite ends each answer with its whole JSON). */
function answerOf(res: ServerResponse): Promise<string> {
  return new Promise((resolve) => {
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    (res as { end: unknown }).end = (...args: unknown[]) => {
      const chunk = args[0];
      resolve(typeof chunk === 'string' || Buffer.isBuffer(chunk) ? String(chunk) : '');
      return end(...args);
    };
    res.on('close', () => resolve(''));
  });
}

const readUnits = (bytes: number, consistent: boolean) =>
  Math.max(1, Math.ceil(bytes / 4096)) * (consistent ? 1 : 0.5);
const sizeOf = (item: Item | undefined) => (item ? dynaliteDb.itemSize(item) : 0);
const writeUnits = (item: Item | undefined) =>
  item ? Math.max(1, Math.ceil(dynaliteDb.itemSize(item) / 1024)) : 1;

function dynamoUnits(op: string, body: Item, answer: Item): Omit<DynamoCount, 'calls'> {
  const consistent = body.ConsistentRead === true;
  switch (op) {
    case 'PutItem':
      return { rru: 0, wru: writeUnits(body.Item as Item), items: 0, bytes: sizeOf(body.Item as Item) };
    case 'UpdateItem':
    case 'DeleteItem':
      return { rru: 0, wru: 1, items: 0, bytes: 0 };
    case 'BatchWriteItem': {
      let wru = 0;
      let bytes = 0;
      for (const requests of Object.values((body.RequestItems ?? {}) as Record<string, Item[]>)) {
        for (const r of requests) {
          const item = (r.PutRequest as { Item?: Item } | undefined)?.Item;
          wru += writeUnits(item);
          bytes += sizeOf(item);
        }
      }
      return { rru: 0, wru, items: 0, bytes };
    }
    case 'GetItem': {
      const item = answer.Item as Item | undefined;
      return { rru: readUnits(sizeOf(item), consistent), wru: 0, items: item ? 1 : 0, bytes: sizeOf(item) };
    }
    case 'BatchGetItem': {
      let rru = 0;
      let read = 0;
      let bytes = 0;
      const asked = (body.RequestItems ?? {}) as Record<string, { Keys: Item[]; ConsistentRead?: boolean }>;
      const got = (answer.Responses ?? {}) as Record<string, Item[]>;
      const left = (answer.UnprocessedKeys ?? {}) as Record<string, { Keys: Item[] }>;
      for (const [table, request] of Object.entries(asked)) {
        const items = got[table] ?? [];
        read += items.length;
        const missing = request.Keys.length - items.length - (left[table]?.Keys.length ?? 0);
        for (const item of items) {
          rru += readUnits(sizeOf(item), request.ConsistentRead === true);
          bytes += sizeOf(item);
        }
        rru += Math.max(0, missing) * readUnits(0, request.ConsistentRead === true);
      }
      return { rru, wru: 0, items: read, bytes };
    }
    case 'Query':
    case 'Scan': {
      // Charged on whole items, whatever the projection: a projected-out partition key is added back.
      const pk = (body.ExpressionAttributeValues as Record<string, { S?: string }> | undefined)?.[':pk']?.S;
      const items = (answer.Items ?? []) as Item[];
      let bytes = 0;
      for (const item of items) bytes += sizeOf(item) + (item.pk || !pk ? 0 : 2 + pk.length);
      return { rru: readUnits(bytes, consistent), wru: 0, items: items.length, bytes };
    }
    default:
      return { rru: 0, wru: 0, items: 0, bytes: 0 };
  }
}

/** Starts counting the calls that reach these stand-ins. */
export function countAwsCalls(endpoints: Endpoints): AwsCallCounter {
  const portOf = (url: string) => Number(new URL(url).port);
  const s3Port = portOf(endpoints.s3);
  const ddbPort = portOf(endpoints.dynamodb);
  const sqsPort = portOf(endpoints.sqs);
  const calls = emptyCalls();
  const start: Channel = channel('http.server.request.start');

  const onRequest = (message: unknown) => {
    const {
      request: req,
      response: res,
      server,
    } = message as {
      request: IncomingMessage;
      response: ServerResponse;
      server: Server;
    };
    const port = (server.address() as { port?: number } | null)?.port;
    if (port === s3Port) {
      const url = new URL(req.url ?? '/', 'http://s3');
      const [, , ...rest] = url.pathname.split('/');
      const key = decodeURIComponent(rest.join('/'));
      const op = s3Operation(req, url, key.length > 0);
      bump(calls.s3.requests, op);
      if (op === 'GetObject' || op === 'HeadObject') bump(calls.s3.reads, kindOf(key));
      if (WRITES.has(op)) {
        const kind = kindOf(key);
        bump(calls.s3.writes, kind);
        if (op === 'PutObject' || op === 'UploadPart') {
          const sent = Number(
            req.headers['x-amz-decoded-content-length'] ?? req.headers['content-length'] ?? 0,
          );
          bump(calls.s3.bytes, kind, sent);
        }
      }
    } else if (port === ddbPort) {
      const target = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? 'Unknown';
      void Promise.all([bodyOf(req), answerOf(res)]).then(([text, answerText]) => {
        let body: Item = {};
        let answer: Item = {};
        try {
          body = JSON.parse(text || '{}') as Item;
          answer = JSON.parse(answerText || '{}') as Item;
        } catch {
          // An answer that is not JSON (an error page) consumed nothing.
        }
        const op = target === 'Query' && monthItemsPk(body) ? MONTH_ITEMS_QUERY : target;
        calls.dynamodb[op] ??= { calls: 0, rru: 0, wru: 0, items: 0, bytes: 0 };
        const entry = calls.dynamodb[op];
        const units = dynamoUnits(target, body, answer);
        entry.calls += 1;
        entry.rru += units.rru;
        entry.wru += units.wru;
        entry.items += units.items;
        entry.bytes += units.bytes;
      });
    } else if (port === sqsPort) {
      const op = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? 'Unknown';
      bump(calls.sqs.requests, op);
      if (op === 'SendMessage') calls.sqs.messages += 1;
      if (op === 'SendMessageBatch') {
        void bodyOf(req).then((body) => {
          try {
            calls.sqs.messages += ((JSON.parse(body) as { Entries?: unknown[] }).Entries ?? []).length;
          } catch {
            // Not JSON: nothing was sent.
          }
        });
      }
    }
  };
  start.subscribe(onRequest);
  return {
    snapshot: () => structuredClone(calls),
    stop: () => start.unsubscribe(onRequest),
  };
}

/** What was counted between two snapshots. */
export function callsBetween(before: AwsCalls, after: AwsCalls): AwsCalls {
  const diff = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries(
      Object.keys(b)
        .map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)] as const)
        .filter(([, n]) => n !== 0),
    );
  const dynamodb: AwsCalls['dynamodb'] = {};
  for (const [op, b] of Object.entries(after.dynamodb)) {
    const a = before.dynamodb[op] ?? { calls: 0, rru: 0, wru: 0, items: 0, bytes: 0 };
    if (b.calls !== a.calls) {
      dynamodb[op] = {
        calls: b.calls - a.calls,
        rru: b.rru - a.rru,
        wru: b.wru - a.wru,
        items: b.items - a.items,
        bytes: b.bytes - a.bytes,
      };
    }
  }
  return {
    s3: {
      requests: diff(before.s3.requests, after.s3.requests),
      writes: diff(before.s3.writes, after.s3.writes),
      bytes: diff(before.s3.bytes, after.s3.bytes),
      reads: diff(before.s3.reads, after.s3.reads),
    },
    dynamodb,
    sqs: {
      requests: diff(before.sqs.requests, after.sqs.requests),
      messages: after.sqs.messages - before.sqs.messages,
    },
  };
}
