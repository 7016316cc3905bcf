import { MONTH_ITEMS_QUERY, type S3Kind } from '../helpers/count-aws-calls.ts';
import type { RunCount } from './rerun.ts';

/**
 * Issue 18's cost model: dollars per 100,000 invoices at 1k, 10k and 100k invoices a month per
 * connection, daily runs with a 30-day lookback, from AWS calls counted in a local run and us-east-1 list
 * prices. Arithmetic only: the counted figures are below (COUNTED), printed by `npm run bench rerun`
 * (its last line; paste it here to count again). `npm run bench cost-model` prints the table.
 *
 * The model, per connection and provider (one scope; R invoices issued a month, evenly):
 * - A daily run reads the window from its watermark (yesterday) less 30 days to today: 32 days, so each
 *   invoice is seen by 32 runs: landed once ("worked": detail, documents, raw writes), then S = 31 times
 *   again (CM360 more: SEEN_AGAIN), worked again if it is open (not final), else left unchanged.
 * - w: what a first landing costs, from the first run (every invoice new), less the empty run.
 *   r: what an open invoice worked again with its listing item unchanged costs: the detail call, a HEAD
 *   per document (none for its raw answer while its pointer's stamp matches), its pointer read (and its
 *   documents, when it landed with some), the table writes when its line changed; no PUT (its raw bytes
 *   are the stored object's) and no download (its documents are still there with their sha256). From the second run over the same window (nothing new, nothing
 *   changed): (second - empty) / worked again, each figure floored at zero. This folds the second run's
 *   unchanged invoices (a pointer read each) into r and takes off the empty run's statement and page
 *   writes, which a second run over the same window does not repeat (its export is registered, its pages
 *   hold the same bytes): for Amazon Ads, r is short of 4 statement calls over 43 invoices.
 *   u: what an invoice seen again and left unchanged costs, from the next day's run (window moved one
 *   day: new page keys, a new export or statement, the open invoices worked again): (next day - empty -
 *   worked x r) / unchanged, floored at zero.
 *   E: what any run costs (an empty window: discovery, one page a scope, the run record, the statement).
 *   Per 100,000 invoices: 100,000 x (w + S x (f x r + (1 - f) x u)) + 30.4 runs x E x 100,000 / R,
 *   f the share of invoices open for the whole window (re-worked by every run that sees them): the next
 *   day's run's share; the table adds Amazon Ads with every invoice final and every invoice open.
 *   Left out: an open invoice whose listing item changes (a payment recorded) is landed again in full,
 *   at about w: a few times in its life against S sightings.
 * - Month files are modelled at scale, not scaled from the small local ones: a file holds a month of
 *   the scope's invoices (R lines), is rewritten P times a day (PUBLISHES_PER_RUN: the months a run
 *   changed), each time one Query of its table items, one pointer read a line, one PUT (multipart over
 *   8 MiB: 8 MiB parts), three lease writes and a read, kept 3 days as an old version.
 * - Storage: a rewritten raw invoice or document is an old version kept 90 days (none is rewritten
 *   unless its bytes changed: r and u write none); pages, statements and export ZIPs are new keys every run (kept: the bucket has no expiry for current objects). What is
 *   kept accumulates, so it is given apart, per month kept.
 * - Lambda: the handlers' measured time at their memory, every provider answer held 300 ms by the
 *   simulators (rerun.ts, PROVIDER_LATENCY_MS), so a paced call's latency falls inside its pacing interval
 *   as it does on AWS, and the client's sleeps between paced calls are in it; plus INIT_S for each
 *   invocation (init is billed since August 2025) at 512 MB. The AWS stand-ins answer faster than AWS.
 */

/** us-east-1 list prices, as assumed on 2026-11-30 (S3 Standard, DynamoDB on-demand standard, SQS standard, Lambda arm64). */
export const PRICES = {
  s3PutPer1k: 0.005,
  s3GetPer1k: 0.0004,
  s3GbMonth: 0.023,
  ddbWruPerMillion: 0.625,
  ddbRruPerMillion: 0.125,
  ddbGbMonth: 0.25,
  ddbPitrGbMonth: 0.2,
  sqsPerMillion: 0.4,
  lambdaGbSecond: 0.0000133334,
  lambdaPerMillion: 0.2,
} as const;

const RUNS_A_MONTH = 30.4;
/**
 * Runs that see an invoice again after the one that landed it: 31 (a 32-day window); CM360 lists every
 * invoice of each issue month the window touches, so an invoice is listed from its issue day until 31
 * days after its month ends: 31 to 61 more runs, 45 for issue dates spread over the month.
 */
const SEEN_AGAIN: Record<string, number> = { cm360: 45 };
const seenAgain = (provider: string) => SEEN_AGAIN[provider] ?? 31;
/** Months an old version of a raw invoice or document is kept (90 days). */
const RAW_NONCURRENT_MONTHS = 90 / RUNS_A_MONTH;
const MONTH_FILE_NONCURRENT_DAYS = 3;
const INIT_S = 0.2;
const PROVIDER_MEMORY_GB = 0.5;
const PART_BYTES = 8 * 1024 * 1024;
const GB = 1e9;
/** SQS requests a message costs: its send, the receive that delivers it to Lambda, the delete. */
const SQS_REQUESTS_A_MESSAGE = 3;

/** Keys a later run writes again (an old version each time) and keys of one run only. */
const REWRITTEN: readonly S3Kind[] = ['raw-invoice', 'document'];

/** What the model takes from one counted run. */
export interface Counted {
  worked: number;
  unchanged: number;
  /** S3 PUT-class and GET-class requests and bytes written, by kind of key, month files left out. */
  puts: number;
  gets: number;
  bytes: Partial<Record<S3Kind, number>>;
  /** DynamoDB request units, month-file publishing left out. */
  rru: number;
  wru: number;
  /** Bytes of the invoice table items written (a month item and a pointer per invoice worked). */
  tableBytes: number;
  /** Month files published: files, lines read for them, their bytes and their table items' bytes. */
  publish: { files: number; lines: number; bytes: number; itemBytes: number };
  sqsMessages: number;
  invocations: number;
  /** Measured handler time at the functions' memory. */
  gbSeconds: number;
  providerRequests: number;
}

const PUT_CLASS = [
  'PutObject',
  'CopyObject',
  'UploadPart',
  'CreateMultipartUpload',
  'CompleteMultipartUpload',
  'ListObjects',
];

/** A counted run, reduced to what the model takes. */
export function countedOf(r: RunCount): Counted {
  const s3 = r.aws.s3;
  const ddb = r.aws.dynamodb;
  const files = s3.writes['month-file'] ?? 0;
  const query = ddb[MONTH_ITEMS_QUERY] ?? { calls: 0, rru: 0, wru: 0, items: 0, bytes: 0 };
  const total = (k: 'rru' | 'wru') => Object.values(ddb).reduce((n, d) => n + d[k], 0);
  const { 'month-file': monthBytes = 0, ...bytes } = s3.bytes;
  return {
    worked: r.worked,
    unchanged: r.unchanged,
    puts: PUT_CLASS.reduce((n, op) => n + (s3.requests[op] ?? 0), 0) - files,
    gets: (s3.requests.GetObject ?? 0) + (s3.requests.HeadObject ?? 0),
    bytes,
    // A publish: the Query, a consistent pointer read per line, the lease's read and three writes.
    rru: total('rru') - query.rru - query.items - files,
    wru: total('wru') - 3 * files,
    tableBytes: ddb.BatchWriteItem?.bytes ?? 0,
    publish: { files, lines: query.items, bytes: monthBytes, itemBytes: query.bytes },
    sqsMessages: r.aws.sqs.messages,
    invocations: r.lambda.invocations,
    gbSeconds: r.lambda.gbSeconds,
    providerRequests: Object.values(r.provider).reduce((n, x) => n + x, 0),
  };
}

/** Month files a daily run rewrites, per scope (see the README's cost model for why). */
const PUBLISHES_PER_RUN: Record<string, number> = {
  // Open invoices in both months of the window are worked again every day (the next day's run rewrote
  // both of its profile's files).
  'amazon-ads': 2,
  // The listing lands the day's new invoices (the current month); the export links the XMLs of both
  // months (the next day's run: 2).
  'sp-api': 3,
  // Its open invoices of both months are worked again (the next day's run rewrote both files).
  'amazon-business': 2,
  // Invoices are issued once a month, all final: one rewrite a month.
  cm360: 1 / RUNS_A_MONTH,
};

/**
 * Counted by `npm run bench rerun` (first repetition) on main at 6ea0e1e, 2026-11-30 (CM360 at the next commit, its listings' rate plans shared by the containers): the first run, the
 * second run over the same window, the next day's run, an empty run (CM360's counted again once its pages
 * were named by issue month).
 */
const COUNTED: Record<string, { first: Counted; second: Counted; nextDay: Counted; empty: Counted }> = {
  'amazon-ads': {
    first: {
      worked: 67,
      unchanged: 0,
      puts: 110,
      gets: 4,
      bytes: {
        'raw-other': 269,
        page: 41548,
        'raw-invoice': 145687,
        document: 634491,
        report: 20058,
        reconciliation: 1212,
      },
      rru: 149,
      wru: 165,
      tableBytes: 31391,
      publish: { files: 2, lines: 201, bytes: 48307, itemBytes: 62499 },
      sqsMessages: 7,
      invocations: 6,
      gbSeconds: 8.877,
      providerRequests: 152,
    },
    second: {
      worked: 43,
      unchanged: 24,
      puts: 1,
      gets: 19,
      bytes: { reconciliation: 1212 },
      rru: 94,
      wru: 19,
      tableBytes: 0,
      publish: { files: 0, lines: 134, bytes: 0, itemBytes: 41666 },
      sqsMessages: 6,
      invocations: 5,
      gbSeconds: 4.512,
      providerRequests: 46,
    },
    nextDay: {
      worked: 41,
      unchanged: 21,
      puts: 3,
      gets: 17,
      bytes: { page: 38429, report: 17968, reconciliation: 1211 },
      rru: 90,
      wru: 28,
      tableBytes: 0,
      publish: { files: 0, lines: 134, bytes: 0, itemBytes: 41666 },
      sqsMessages: 7,
      invocations: 6,
      gbSeconds: 5.405,
      providerRequests: 48,
    },
    empty: {
      worked: 0,
      unchanged: 0,
      puts: 3,
      gets: 4,
      bytes: { page: 72, report: 99, reconciliation: 568 },
      rru: 14,
      wru: 27,
      tableBytes: 0,
      publish: { files: 0, lines: 0, bytes: 0, itemBytes: 0 },
      sqsMessages: 7,
      invocations: 6,
      gbSeconds: 1.6105,
      providerRequests: 7,
    },
  },
  'sp-api': {
    first: {
      worked: 93,
      unchanged: 0,
      puts: 192,
      gets: 119,
      bytes: {
        'raw-other': 956,
        page: 31599,
        'raw-invoice': 31492,
        document: 200116,
        export: 86736,
        reconciliation: 834,
      },
      rru: 198,
      wru: 219,
      tableBytes: 40483,
      publish: { files: 4, lines: 372, bytes: 132827, itemBytes: 106504 },
      sqsMessages: 6,
      invocations: 5,
      gbSeconds: 3.578,
      providerRequests: 6,
    },
    second: {
      worked: 0,
      unchanged: 93,
      puts: 1,
      gets: 12,
      bytes: { reconciliation: 834 },
      rru: 104,
      wru: 21,
      tableBytes: 0,
      publish: { files: 0, lines: 186, bytes: 0, itemBytes: 53252 },
      sqsMessages: 5,
      invocations: 4,
      gbSeconds: 0.49850000000000005,
      providerRequests: 2,
    },
    nextDay: {
      worked: 0,
      unchanged: 90,
      puts: 5,
      gets: 22,
      bytes: { page: 30587, document: 63550, export: 83943, reconciliation: 834 },
      rru: 103,
      wru: 33,
      tableBytes: 0,
      publish: { files: 2, lines: 279, bytes: 78687, itemBytes: 79878 },
      sqsMessages: 6,
      invocations: 5,
      gbSeconds: 3.0035,
      providerRequests: 6,
    },
    empty: {
      worked: 0,
      unchanged: 0,
      puts: 2,
      gets: 4,
      bytes: { page: 15, reconciliation: 535 },
      rru: 12,
      wru: 25,
      tableBytes: 0,
      publish: { files: 0, lines: 0, bytes: 0, itemBytes: 0 },
      sqsMessages: 6,
      invocations: 5,
      gbSeconds: 0.955,
      providerRequests: 4,
    },
  },
  'amazon-business': {
    first: {
      worked: 127,
      unchanged: 0,
      puts: 146,
      gets: 18,
      bytes: { page: 351226, 'raw-invoice': 300431, reconciliation: 891 },
      rru: 261,
      wru: 273,
      tableBytes: 58378,
      publish: { files: 2, lines: 254, bytes: 83823, itemBytes: 77386 },
      sqsMessages: 4,
      invocations: 3,
      gbSeconds: 3.163,
      providerRequests: 18,
    },
    second: {
      worked: 99,
      unchanged: 28,
      puts: 1,
      gets: 18,
      bytes: { reconciliation: 891 },
      rru: 134,
      wru: 17,
      tableBytes: 0,
      publish: { files: 0, lines: 127, bytes: 0, itemBytes: 38693 },
      sqsMessages: 4,
      invocations: 3,
      gbSeconds: 2.8425,
      providerRequests: 18,
    },
    nextDay: {
      worked: 97,
      unchanged: 26,
      puts: 18,
      gets: 17,
      bytes: { page: 342706, reconciliation: 787 },
      rru: 130,
      wru: 17,
      tableBytes: 0,
      publish: { files: 0, lines: 127, bytes: 0, itemBytes: 38693 },
      sqsMessages: 4,
      invocations: 3,
      gbSeconds: 2.714,
      providerRequests: 17,
    },
    empty: {
      worked: 0,
      unchanged: 0,
      puts: 2,
      gets: 1,
      bytes: { page: 19, reconciliation: 456 },
      rru: 7,
      wru: 13,
      tableBytes: 0,
      publish: { files: 0, lines: 0, bytes: 0, itemBytes: 0 },
      sqsMessages: 4,
      invocations: 3,
      gbSeconds: 0.18700000000000003,
      providerRequests: 1,
    },
  },
  cm360: {
    first: {
      worked: 38,
      unchanged: 0,
      puts: 94,
      gets: 17,
      bytes: { page: 35489, document: 43048, 'raw-invoice': 32108, reconciliation: 1377 },
      rru: 95,
      wru: 144,
      tableBytes: 16470,
      publish: { files: 10, lines: 76, bytes: 28047, itemBytes: 24124 },
      sqsMessages: 9,
      invocations: 8,
      gbSeconds: 17.487,
      providerRequests: 55,
    },
    second: {
      worked: 0,
      unchanged: 38,
      puts: 1,
      gets: 17,
      bytes: { reconciliation: 1377 },
      rru: 50,
      wru: 56,
      tableBytes: 0,
      publish: { files: 0, lines: 38, bytes: 0, itemBytes: 12062 },
      sqsMessages: 9,
      invocations: 8,
      gbSeconds: 3.4435000000000002,
      providerRequests: 17,
    },
    nextDay: {
      worked: 0,
      unchanged: 38,
      puts: 1,
      gets: 17,
      bytes: { reconciliation: 1377 },
      rru: 50,
      wru: 56,
      tableBytes: 0,
      publish: { files: 0, lines: 38, bytes: 0, itemBytes: 12062 },
      sqsMessages: 9,
      invocations: 8,
      gbSeconds: 3.4404999999999997,
      providerRequests: 17,
    },
    empty: {
      worked: 0,
      unchanged: 0,
      puts: 7,
      gets: 7,
      bytes: { page: 505, reconciliation: 870 },
      rru: 12,
      wru: 46,
      tableBytes: 0,
      publish: { files: 0, lines: 0, bytes: 0, itemBytes: 0 },
      sqsMessages: 9,
      invocations: 8,
      gbSeconds: 1.4169999999999998,
      providerRequests: 7,
    },
  },
};

type Vector = Omit<Counted, 'publish' | 'bytes'> & { bytes: Partial<Record<S3Kind, number>> };
const FIELDS = [
  'puts',
  'gets',
  'rru',
  'wru',
  'tableBytes',
  'sqsMessages',
  'invocations',
  'gbSeconds',
  'providerRequests',
] as const;

/** A weighted sum of counted runs; `floor` keeps each figure at zero or above (a difference of two runs). */
function combine(terms: Array<[number, Vector | Counted]>, floor = false): Vector {
  const out: Vector = {
    worked: 0,
    unchanged: 0,
    puts: 0,
    gets: 0,
    rru: 0,
    wru: 0,
    tableBytes: 0,
    sqsMessages: 0,
    invocations: 0,
    gbSeconds: 0,
    providerRequests: 0,
    bytes: {},
  };
  for (const [k, v] of terms) {
    for (const f of FIELDS) out[f] += k * v[f];
    for (const [kind, n] of Object.entries(v.bytes)) {
      out.bytes[kind as S3Kind] = (out.bytes[kind as S3Kind] ?? 0) + k * (n ?? 0);
    }
  }
  if (floor) {
    for (const f of FIELDS) out[f] = Math.max(0, out[f]);
    for (const [kind, n] of Object.entries(out.bytes)) out.bytes[kind as S3Kind] = Math.max(0, n ?? 0);
  }
  return out;
}

const sumBytes = (v: Vector, kinds: (kind: S3Kind) => boolean) =>
  Object.entries(v.bytes).reduce((n, [k, b]) => n + (kinds(k as S3Kind) ? (b ?? 0) : 0), 0);

export interface Cost {
  s3Requests: number;
  s3OldVersions: number;
  dynamodb: number;
  sqs: number;
  lambda: number;
  total: number;
  /** Storage of what is kept, $ a month per 100,000 invoices kept (S3 current objects, DynamoDB items). */
  keptPerMonth: number;
}

/**
 * What the counted runs give per unit: a first landing (w), an open invoice worked again (r: w where no
 * run worked one again), an invoice seen again left unchanged (u), a run (E).
 */
export function unitsOf(provider: string): { w: Vector; r: Vector; u: Vector; E: Vector } {
  const c = COUNTED[provider];
  if (!c) throw new Error(`no counted figures for ${provider}`);
  const E = combine([[1, c.empty]]);
  const w = combine([
    [1 / c.first.worked, c.first],
    [-1 / c.first.worked, c.empty],
  ]);
  const r =
    c.second.worked > 0
      ? combine(
          [
            [1 / c.second.worked, c.second],
            [-1 / c.second.worked, c.empty],
          ],
          true,
        )
      : w;
  const u =
    c.nextDay.unchanged > 0
      ? combine(
          [
            [1 / c.nextDay.unchanged, c.nextDay],
            [-1 / c.nextDay.unchanged, c.empty],
            [-c.nextDay.worked / c.nextDay.unchanged, r],
          ],
          true,
        )
      : combine([]);
  return { w, r, u, E };
}

/**
 * Dollars per 100,000 invoices at R invoices a month, a share f of them open through the window;
 * `publishesPerRun` overrides the month files a run rewrites.
 */
export function costOf(provider: string, R: number, f: number, publishesPerRun?: number): Cost {
  const c = COUNTED[provider]!;
  const { w, r, u, E } = unitsOf(provider);
  const again = seenAgain(provider);
  const perInvoice = combine([
    [1, w],
    [again * f, r],
    [again * (1 - f), u],
  ]);
  const N = 100_000;
  const runsPer100k = (RUNS_A_MONTH * N) / R;
  const fixed = combine([[runsPer100k, E]]);
  const v = combine([
    [N, perInvoice],
    [1, fixed],
  ]);

  // Month files at scale: a file of R lines, P rewrites a run.
  const first = c.first.publish;
  const lineBytes = first.bytes / Math.max(1, first.lines);
  const itemBytes = first.itemBytes / Math.max(1, first.lines);
  const fileBytes = R * lineBytes;
  const publishes = runsPer100k * (publishesPerRun ?? PUBLISHES_PER_RUN[provider] ?? 2);
  const putsAFile = fileBytes <= PART_BYTES ? 1 : Math.ceil(fileBytes / PART_BYTES) + 2;
  const publishRru = publishes * (Math.ceil((R * itemBytes) / 4096) + R + 1);
  const publishWru = publishes * 3;
  // Streaming a file: a Query page of 1 MB and a pointer read of 100 a call, at about 10 ms a call.
  const publishSeconds = publishes * (Math.ceil((R * itemBytes) / 1e6) + Math.ceil(R / 100)) * 0.01;
  const monthFileOldGbMonths = (publishes * fileBytes * (MONTH_FILE_NONCURRENT_DAYS / RUNS_A_MONTH)) / GB;

  // Old versions: every rewrite of a raw invoice or document after its first landing.
  const rewrittenBytes =
    N *
    again *
    (f * sumBytes(r, (k) => REWRITTEN.includes(k)) + (1 - f) * sumBytes(u, (k) => REWRITTEN.includes(k)));
  const keptBytes =
    N * sumBytes(w, () => true) +
    N *
      again *
      (f * sumBytes(r, (k) => !REWRITTEN.includes(k)) +
        (1 - f) * sumBytes(u, (k) => !REWRITTEN.includes(k))) +
    sumBytes(fixed, (k) => !REWRITTEN.includes(k)) +
    N * lineBytes;
  const tableBytesAnInvoice = w.tableBytes;

  const s3Requests =
    ((v.puts + publishes * putsAFile) * PRICES.s3PutPer1k + v.gets * PRICES.s3GetPer1k) / 1000;
  const s3OldVersions =
    ((rewrittenBytes * RAW_NONCURRENT_MONTHS) / GB + monthFileOldGbMonths) * PRICES.s3GbMonth;
  const dynamodb =
    ((v.rru + publishRru) * PRICES.ddbRruPerMillion + (v.wru + publishWru) * PRICES.ddbWruPerMillion) / 1e6;
  const sqs = (v.sqsMessages * SQS_REQUESTS_A_MESSAGE * PRICES.sqsPerMillion) / 1e6;
  const gbSeconds = v.gbSeconds + (v.invocations * INIT_S + publishSeconds) * PROVIDER_MEMORY_GB;
  const lambda = gbSeconds * PRICES.lambdaGbSecond + (v.invocations * PRICES.lambdaPerMillion) / 1e6;
  const keptPerMonth =
    (keptBytes / GB) * PRICES.s3GbMonth +
    ((N * tableBytesAnInvoice) / GB) * (PRICES.ddbGbMonth + PRICES.ddbPitrGbMonth);
  return {
    s3Requests,
    s3OldVersions,
    dynamodb,
    sqs,
    lambda,
    total: s3Requests + s3OldVersions + dynamodb + sqs + lambda,
    keptPerMonth,
  };
}

/** The share of invoices the next day's run worked again (open, or no final status known). */
export function openShare(provider: string): number {
  const d = COUNTED[provider]!.nextDay;
  return d.worked / Math.max(1, d.worked + d.unchanged);
}

const money = (x: number) => `$${x < 10 ? x.toFixed(2) : x.toFixed(0)}`;

const fixed2 = (x: number) => (Math.abs(x) >= 10 ? x.toFixed(0) : x.toFixed(2));

function unitLine(v: Vector): string {
  const rewritten = sumBytes(v, (k) => REWRITTEN.includes(k));
  const kept = sumBytes(v, (k) => !REWRITTEN.includes(k));
  return (
    `S3 PUT ${fixed2(v.puts)}, GET/HEAD ${fixed2(v.gets)}, RRU ${fixed2(v.rru)}, WRU ${fixed2(v.wru)}, ` +
    `SQS messages ${fixed2(v.sqsMessages)}, Lambda ${fixed2(v.invocations)} invocations ${fixed2(v.gbSeconds)} GB-s measured, ` +
    `provider requests ${fixed2(v.providerRequests)}, KB written to rewritten keys ${fixed2(rewritten / 1000)}, to new keys ${fixed2(kept / 1000)}`
  );
}

export async function run(): Promise<void> {
  const volumes = [1_000, 10_000, 100_000];
  console.log('counted (npm run bench rerun), month files apart:');
  for (const provider of Object.keys(COUNTED)) {
    const { w, r, u, E } = unitsOf(provider);
    const c = COUNTED[provider]!;
    const p = c.first.publish;
    console.log(`${provider}`);
    console.log(`  a first landing:             ${unitLine(w)}`);
    console.log(
      `  an open invoice worked again: ${c.second.worked > 0 ? unitLine(r) : 'none in the second run (a first landing assumed)'}`,
    );
    console.log(`  an invoice seen, unchanged:  ${unitLine(u)}`);
    console.log(`  a run:                       ${unitLine(E)}`);
    console.log(
      `  month file: ${(p.bytes / Math.max(1, p.lines)).toFixed(0)} B a line, ${(p.itemBytes / Math.max(1, p.lines)).toFixed(0)} B a table item; ` +
        `${PUBLISHES_PER_RUN[provider]?.toFixed(2)} rewritten a run; each invoice seen again by ${seenAgain(provider)} runs`,
    );
  }
  console.log(
    '\n$ per 100,000 invoices (requests, old versions and compute; storage of what is kept apart), daily runs, 30-day lookback',
  );
  console.log(
    `provider               open   ${volumes.map((r) => `${r / 1000}k/month`.padStart(10)).join(' ')}   kept, $/month`,
  );
  const rows: Array<[string, number, string, number | undefined]> = Object.keys(COUNTED).map((p) => [
    p,
    openShare(p),
    p,
    undefined,
  ]);
  if (COUNTED['amazon-ads']) {
    // Every invoice final: only the day's new invoices change a month file (the current month).
    rows.push(['amazon-ads', 0, 'amazon-ads, all final', 1]);
    rows.push(['amazon-ads', 1, 'amazon-ads, all open', undefined]);
  }
  for (const [provider, f, label, publishes] of rows) {
    const costs = volumes.map((r) => costOf(provider, r, f, publishes));
    console.log(
      `${label.padEnd(22)} ${`${Math.round(f * 100)}%`.padStart(4)}   ${costs.map((c) => money(c.total).padStart(10)).join(' ')}   ${money(costs[2]!.keptPerMonth).padStart(8)}`,
    );
  }
  for (const volume of [100_000, 1_000]) {
    console.log(`\nat ${volume / 1000}k/month, by service:`);
    for (const [provider, f, label, publishes] of rows) {
      const c = costOf(provider, volume, f, publishes);
      console.log(
        `${label.padEnd(22)} S3 requests ${money(c.s3Requests)}, old versions ${money(c.s3OldVersions)}, DynamoDB ${money(c.dynamodb)}, SQS ${money(c.sqs)}, Lambda ${money(c.lambda)}`,
      );
    }
  }
  console.log('target: under $5 per 100,000 invoices, the per-secret charge aside');
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
