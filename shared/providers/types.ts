import type { Readable } from 'node:stream';
import type { Connection, ProviderId } from '../config/schema.ts';
import type { InvoiceTable } from '../engine/invoice-table.ts';
import type { Gap, ReconciliationSummary, RunScope } from '../engine/reconciliation.ts';
import type { SharedRate } from '../http/shared-rate.ts';
import type { InvoiceDocument } from '../invoice/model.ts';
import type { JobMessageInput, Window } from '../jobs/messages.ts';

/**
 * What a provider module sees of the runtime. The handler frame builds one per message; the
 * provider never reaches for environment variables or AWS clients itself.
 */

/** Time a piece of work may take: the Lambda's remaining time less a margin. */
export interface Budget {
  /** Epoch ms by which work must have stopped. */
  readonly deadline: number;
  remainingMs(): number;
}

/** Counters that end up in the run record, the local summary and CloudWatch metrics. */
export type Counter =
  | 'invoices'
  /** Listing items skipped: unchanged since they landed, in a final status (no detail call, no writes). */
  | 'unchanged'
  | 'documents'
  | 'reports'
  | 'bytes'
  | 'retries'
  | 'throttles'
  | 'defers'
  | 'failures'
  | 'rows'
  | 'exportsFailed'
  | 'loopGuarded'
  /** Gaps a connection's control totals found (shared/engine/reconcile-connection.ts). */
  | 'reconciliationGaps';

export interface ObjectMeta {
  /** The provider operation the bytes came from, e.g. getInvoicesDocument. */
  sourceOperation: string;
  runId: string;
  fetchedAt: string;
  contentType?: string;
  /**
   * What tells this object changed, when its bytes also carry what changes on every call (CM360's signed
   * PDF links in a page): kept as metadata `same-as`, and `holds` takes an object with the same as held.
   */
  sameAs?: string;
}

export interface StoredObject {
  key: string;
  sha256: string;
  bytes: number;
}

export interface Sink {
  putJson(key: string, value: unknown, meta: ObjectMeta): Promise<StoredObject>;
  /** Merges records into a JSONL object by id: existing lines with other ids stay, same ids are replaced. */
  mergeJsonl<T extends Record<string, unknown>>(
    key: string,
    records: readonly T[],
    idField: keyof T & string,
    meta: ObjectMeta,
  ): Promise<StoredObject>;
  /**
   * Streams into S3 (one PUT when the size is known, S3 verifying its SHA-256; multipart otherwise); checks
   * expectedBytes when given. The body yields buffers, or strings stored as their UTF-8 bytes.
   */
  putStream(
    key: string,
    body: Readable,
    meta: ObjectMeta & {
      expectedBytes?: number;
      onChunk?: (chunk: Buffer) => void;
      /** Made by the pipeline (month files, reconciliation), not copied from the provider: not in BytesCopied. */
      derived?: boolean;
    },
  ): Promise<StoredObject>;
  getText(key: string): Promise<string | undefined>;
  /** The object's bytes as a stream (undefined when there is none): a report read back is never held whole. */
  getStream?(key: string): Promise<Readable | undefined>;
  /**
   * Whether the object at key holds exactly these bytes (its recorded sha256; objects held whole carry it),
   * or, given `sameAs`, was written with that same `sameAs` (ObjectMeta.sameAs): undefined if not, else
   * the run that wrote it.
   */
  holds?(key: string, sha256: string, sameAs?: string): Promise<Held | undefined>;
}

/** An object found holding the bytes asked for; `runId` is the run that wrote it (metadata `run-id`). */
export interface Held {
  runId?: string;
}

export type ExportState = 'CREATING' | 'PENDING' | 'DONE' | 'FAILED' | 'EXPIRED';

export interface ExportRecord {
  key: string;
  provider: ProviderId;
  connection: string;
  scope: string;
  exportId?: string;
  state: ExportState;
  createdAt: string;
  deadline: string;
  attempts: number;
  /** Document ids already copied into S3, with where they went. */
  copied: Record<string, StoredObject>;
  runId: string;
  error?: { code: string; message: string };
  /** Provider-owned details (window, filters, row counts). */
  details?: Record<string, unknown>;
}

/** Which document of which invoice: the identity of a pending document in the state table. */
export interface PendingDocumentId {
  provider: ProviderId;
  connection: string;
  scope: string;
  invoiceId: string;
  /** The document's file name, the last part of its key (`INVOICE.pdf`, `government.xml`). */
  name: string;
}

/**
 * A document that could not be landed (its link refused, expired, answered 4xx or missing), kept in the
 * state table until a later run lands it or it is given up (README "How it flows"). It holds no download
 * link: links expire, and a retry asks the provider for the invoice, and so for a fresh link, again.
 */
export interface PendingDocument extends PendingDocumentId {
  /** The document's type in the normalized invoice (INVOICE, GOVERNMENT_INVOICE, INVOICE_PDF...). */
  type: string;
  /** Where it lands in the bucket. */
  key: string;
  /** The invoice's issue date, when known: how a provider without a by-id call finds it again. */
  issuedOn?: string;
  /** The last failure's problem code and message. */
  code: string;
  reason: string;
  attempts: number;
  firstSeenAt: string;
  lastTriedAt: string;
  /** The run that first missed it, and the last run that tried it. */
  firstRunId: string;
  lastRunId: string;
}

/** What a miss says about a pending document; the store keeps the first-seen fields and counts attempts. */
export type PendingDocumentMiss = Omit<
  PendingDocument,
  'attempts' | 'firstSeenAt' | 'lastTriedAt' | 'firstRunId' | 'lastRunId'
>;

export interface StateStore {
  getExport(key: string): Promise<ExportRecord | undefined>;
  /**
   * Find-before-create: returns the registered export for this key, or claims the key (conditional
   * write) and calls create to start one. Only one caller ever creates for a key.
   */
  findOrCreateExport(
    key: Omit<ExportRecord, 'state' | 'createdAt' | 'attempts' | 'copied' | 'exportId' | 'deadline'> & {
      deadlineMs: number;
    },
    create: () => Promise<{ exportId: string; details?: Record<string, unknown> }>,
  ): Promise<{ record: ExportRecord; created: boolean }>;
  updateExport(key: string, patch: Partial<Omit<ExportRecord, 'key'>>): Promise<void>;
  recordCopy(key: string, documentId: string, stored: StoredObject): Promise<void>;
  getWatermark(provider: ProviderId, connection: string, scope: string): Promise<string | undefined>;
  /** Records that the run published this month file (the run-completed event lists them). */
  addMonthFile?(runId: string, key: string): Promise<void>;
  /** Moves the watermark forward only (a conditional write keeps an older run from moving it back). */
  setWatermark(provider: ProviderId, connection: string, scope: string, date: string): Promise<void>;
  /** A connection's pending documents, or one scope's, oldest attempt first. */
  listPendingDocuments(provider: ProviderId, connection: string, scope?: string): Promise<PendingDocument[]>;
  /** Records a miss: a new pending document, or one more attempt on a known one (its first-seen fields kept). */
  recordPendingDocument(miss: PendingDocumentMiss, runId: string): Promise<PendingDocument>;
  /** Forgets a pending document; false when there was none (someone else landed or gave it up first). */
  deletePendingDocument(id: PendingDocumentId): Promise<boolean>;
  /** Control totals (shared/aws/run-controls.ts): a scope and window the run covers for a job. */
  addRunScope?(runId: string, connection: string, scope: RunScope): Promise<void>;
  runScopes?(runId: string, connection: string): Promise<RunScope[]>;
  /** A gap an invoice showed as it landed (recorded once however often its page is worked). */
  addGap?(runId: string, connection: string, gap: Gap): Promise<void>;
  runGaps?(runId: string, connection: string): AsyncIterable<Gap>;
  setReconciliation?(summary: ReconciliationSummary): Promise<void>;
  /** A failure of the run that did not end in a DLQ (control totals configured to fail it): it settles FAILED. */
  addFailure?(
    runId: string,
    failure: { at: string; connection: string; messageType: string; reason: string },
    id: string,
  ): Promise<void>;
}

export interface JobQueue {
  /** Sends to the queue of the function that handles this message; delays over 900 s are chained. */
  send(message: JobMessageInput, opts?: { delaySeconds?: number }): Promise<void>;
  sendBatch(messages: readonly JobMessageInput[]): Promise<void>;
}

export interface HttpResponse<T> {
  status: number;
  headers: Record<string, string>;
  data: T;
  rawBody: string;
}

export interface DownloadResponse {
  status: number;
  stream: Readable;
  contentLength?: number;
  contentType?: string;
}

export interface RequestOptions<T> {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | readonly string[] | undefined>;
  headers?: Record<string, string>;
  json?: unknown;
  /** Media type of a JSON body when a provider wants a vendor type. */
  contentType?: string;
  /** Validates the answer; one that does not fit raises a PayloadError with the raw body. */
  schema?: { safeParse(data: unknown): { success: true; data: T } | { success: false; error: unknown } };
}

export interface ProviderHttp {
  request<T = unknown>(operation: string, opts: RequestOptions<T>): Promise<HttpResponse<T>>;
  /** The operation's current pace in requests per second (corrected by x-amzn-RateLimit-Limit), if it is paced. */
  rate?(operation: string): number | undefined;
  /** GET a download URL: followed only to allowlisted https hosts; redirects are checked too. */
  download(
    operation: string,
    url: string,
    opts?: { headers?: Record<string, string>; auth?: boolean },
  ): Promise<DownloadResponse>;
}

export interface Log {
  debug(message: string, extra?: Record<string, unknown>): void;
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

/** What the frame hands a provider's HTTP client for one message. */
export interface HttpRuntime {
  budget: Budget;
  log: Log;
  /** Retries, throttles and defers, for the run's counters and metrics. */
  onEvent: (event: {
    type: 'retry' | 'throttle' | 'defer';
    operation: string;
    status?: number;
    waitMs?: number;
  }) => void;
  /** Loopback download hosts are allowed (the local stack). */
  allowLoopback: boolean;
  /** Extra download hosts from the environment (the connection's endpoints.downloadHosts come on top). */
  extraDownloadHosts: string[];
  /** The longest wait slept inside an invocation; a longer one is handed back to the queue. */
  deferThresholdMs: number;
  /** Every operation's rate plan multiplied by this (RATE_PLAN_SCALE: a sandbox clock N times real time); default 1. */
  ratePlanScale?: number;
  /** The rate plans the provider's containers share (the state table's), for operations marked `shared`. */
  sharedRate?: SharedRate;
  /** Containers that may call a connection at once (the provider's maxConcurrency): each gets that share of a burst. */
  containers?: number;
}

export interface ProviderContext<C extends Connection = Connection> {
  connection: C;
  runId: string;
  /** The connection's secret (validated by the provider's secretSchema). */
  secret: Record<string, string>;
  http: ProviderHttp;
  sink: Sink;
  state: StateStore;
  /** Normalized invoices by identity, from which month files are published. */
  invoices: InvoiceTable;
  queue: JobQueue;
  log: Log;
  count(counter: Counter, n?: number): void;
  /**
   * Runs work that may be done again (a listing hands the rest of its page back to the queue from the first
   * item not done, and the continuation works that item, and any that finished after it, again): what the
   * work landed (invoices, documents, bytes...) counts only once `keep` is called, so the run counts it once.
   * Absent: the work counts as it goes.
   */
  tallied?<T>(work: () => Promise<T>): Promise<{ value: T; keep: () => void }>;
  /**
   * Records a non-fatal problem in the run (e.g. a payload kept raw that did not fit the model): the run
   * ends PARTIAL. `note: true` for a normal state worth knowing that left nothing out.
   */
  reportProblem(problem: { code: string; message: string; key?: string; note?: boolean }): void;
  /** Records a control-totals gap of the run (ListingJob.check's), listed in the connection's reconciliation. */
  reportGap?(gap: Gap): void;
  /**
   * Set by the engine while it lands a listing's invoices: copyDocument hands it each document it could
   * not land (instead of reporting it), and the engine records it pending, then reports it. Absent: the
   * copy reports the problem itself.
   */
  documentMissed?(miss: DocumentMiss): void;
  budget: Budget;
  now(): Date;
  /**
   * For an invoice worked again whose listing item is unchanged: the document it landed with at this key,
   * so the copy is not downloaded again (copyDocument checks the object is still there).
   */
  landedDocument?(key: string): InvoiceDocument | undefined;
  /** The same invoice's landed documents, all of them: a provider may skip asking for links it has. */
  landedDocuments?: readonly InvoiceDocument[];
}

/** A document copyDocument could not land, with the problem it would have reported. */
export interface DocumentMiss {
  invoiceId: string;
  type: string;
  key: string;
  code: string;
  message: string;
}

export type ExportCheck =
  | { state: 'PENDING'; detail?: string }
  | { state: 'DONE'; documentIds: string[]; details?: Record<string, unknown> }
  | { state: 'FAILED'; code: string; message: string };

export interface OpenedDocument {
  /** Where the copy goes. */
  key: string;
  operation: string;
  response: DownloadResponse;
  /** Which run counter a copy adds to. */
  counter: 'documents' | 'reports';
  /** Called on each chunk as it streams (counting CSV rows, say). */
  onChunk?: (chunk: Buffer) => void;
  /** After the copy: what to record (rows counted, XML split out...). */
  after?: (stored: {
    key: string;
    sha256: string;
    bytes: number;
  }) => Promise<Record<string, unknown> | undefined>;
}

export type { Window };
