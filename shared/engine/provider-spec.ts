import type * as z from 'zod';
import type { LwaRegion } from '../auth/lwa.ts';
import type { Connection, ProviderId } from '../config/schema.ts';
import type { OperationSpec } from '../http/client.ts';
import type { NormalizedInvoice } from '../invoice/model.ts';
import type { PollMessage, RunMessage, Window } from '../jobs/messages.ts';
import type { ExportCheck, HttpResponse, OpenedDocument, ProviderContext } from '../providers/types.ts';
import type { Decorate } from './invoice-store.ts';
import type { MonthFile } from './invoice-table.ts';
import type { Gap, ReconcileInput } from './reconciliation.ts';

/**
 * A provider as a description: how to call its API, what its scopes are, and its jobs. The engine
 * (shared/engine/) runs every spec the same way: window, fan-out, paging with continuations, raw
 * storage, enrichment, normalization, documents, exports, watermark. A spec writes code only where the
 * API is truly odd (exact money, date formats, NF-e, ZIPs). Vocabulary after Airbyte's low-code
 * connectors: a requester (client), a partition router (scopes), a paginator (page + cursor), an
 * incremental cursor with lookback (the engine's window), an async retriever (export jobs).
 */

/**
 * One operation of the API: its pace, and whether sending it twice is harmless (`idempotent: false` for
 * calls that create something at the provider: after an ambiguous failure they are never resent blindly;
 * the job is looked up instead, ExportJob.find).
 */
export type OperationDef = OperationSpec;

export type AuthStyle = 'lwa-bearer' | 'lwa-x-amz-access-token' | 'google';

export interface ClientSpec<C extends Connection> {
  /** API root for a connection (region hosts; `endpoints.api` overrides it in the engine). */
  baseUrl(connection: C): string;
  auth: AuthStyle;
  /** Login with Amazon token host region. */
  lwaRegion?(connection: C): LwaRegion;
  /** Headers sent with every API call (not with downloads). */
  headers?(connection: C, secret: Record<string, string>): Record<string, string>;
  operations: Record<string, OperationDef>;
  /** Hosts document links may point at (exact names or '*.example.com'). */
  downloadHosts: readonly string[];
  /** Whether a 403 with this body means the token expired (401 always does). */
  isExpiredTokenError?(status: number, body: string): boolean;
  /** Whether an answer other than 429 means "slow down" (paced, retried and handed back like a 429). */
  isThrottleError?(status: number, body: string): boolean;
}

/** The provider's bytes of one answer: stored raw exactly as they came. */
export interface RawAnswer {
  body: string;
  contentType?: string;
  operation: string;
}

export function rawOf(res: HttpResponse<unknown>, operation: string): RawAnswer {
  return { body: res.rawBody, contentType: res.headers['content-type'] ?? 'application/json', operation };
}

/** One page of a listing: its raw answer, the items in it (as the provider sent them), the next cursor. */
export interface ListingPage {
  raw: RawAnswer;
  /** Items as parsed from the page, in order; each is checked against the job's item schema. */
  items: readonly unknown[];
  /**
   * Each item's own bytes inside raw.body (same order), when the engine should store items raw one by
   * one (the provider's bytes, not a re-serialization). See rawItems().
   */
  itemBytes?: readonly string[];
  /** Absent or null: the listing ends here. An empty page with a cursor goes on. */
  next?: string | null;
}

export interface PageRequest<C extends Connection> {
  ctx: ProviderContext<C>;
  scope: string;
  window: Window;
  cursor: string | undefined;
  /** What prepare() returned for this scope, carried in every message of the listing. */
  args: Record<string, unknown>;
}

/** What enrichment adds to one item: the detail's raw answer (stored under the invoice's raw key) and anything the normalizer needs. */
export interface Enrichment<D = unknown> {
  raw?: RawAnswer;
  detail?: D;
  documents?: NormalizedInvoice['documents'];
}

export interface ItemContext<C extends Connection> {
  ctx: ProviderContext<C>;
  scope: string;
  args: Record<string, unknown>;
  /** Raw key the engine stores the invoice's payload under. */
  rawKey: string;
}

/** A listing job: pages of items, each optionally enriched, normalized and handed to the invoice store. */
export interface ListingJob<C extends Connection = Connection, I = unknown, D = unknown> {
  kind: 'listing';
  name: string;
  /** The message `job` that routes to the function running this job (shared/aws/resources.ts); absent: the provider's main function. */
  route?: string;
  /** Checks the scope and computes arguments carried by every page of the listing (e.g. explicit date-times). */
  prepare?(ctx: ProviderContext<C>, scope: string, window: Window): Promise<Record<string, unknown>>;
  page(req: PageRequest<C>): Promise<ListingPage>;
  item: {
    schema: z.ZodType<I>;
    id(item: I): string;
    /** The issue date (YYYY-MM-DD, the calendar day the provider states). */
    issuedOn(item: I): string;
    /**
     * Whether the item's status no longer changes (paid in full, written off...): such an item, its
     * fingerprint unchanged since it landed, is not worked again (no detail call, no download, no write)
     * unless the run is `full`. Absent: every item is worked on every run.
     */
    isFinal?(item: I): boolean;
    /** What of the item tells that it changed (default: its bytes as sent); leave out what differs on every call, such as signed URLs. */
    fingerprint?(item: I): unknown;
    /** The id of an item that does not fit the schema, when it has one (then fetchById is tried). */
    idOfUnfit?(raw: unknown): string | undefined;
    /** Whether the item is in the window: some APIs ignore their date filters. Default: all are. */
    inWindow?(item: I, window: Window): boolean;
  };
  /** Per-item enrichment (a detail call, documents). Throw to fail the item's page; report to skip parts. */
  enrich?(item: I, at: ItemContext<C>): Promise<Enrichment<D>>;
  /** Batched enrichment: `size` items a call (Amazon Business: 25). Returns enrichment by item id. */
  enrichBatch?: {
    size: number;
    call(items: readonly I[], at: Omit<ItemContext<C>, 'rawKey'>): Promise<Map<string, Enrichment<D>>>;
  };
  normalize(
    item: I,
    enrichment: Enrichment<D>,
    at: ItemContext<C> & { fetchedAt: string },
  ): NormalizedInvoice;
  /**
   * Control totals of one invoice as it lands: what its own parts say against each other (a total against
   * the sum of its lines, a payment it should have). Each gap is recorded in the run and listed in its
   * reconciliation; an invoice with gaps keeps no fingerprint, so the next run checks it again.
   */
  check?(item: I, enrichment: Enrichment<D>, invoice: NormalizedInvoice): Gap[];
  /**
   * One invoice by id (a run's `invoiceId`, or an item of a page that does not fit but names its id): the
   * item as a listing would give it, unparsed, with the answer's bytes; undefined when the scope does
   * not know it.
   */
  fetchById?(
    ctx: ProviderContext<C>,
    scope: string,
    invoiceId: string,
  ): Promise<{ item: unknown; raw: RawAnswer } | undefined>;
  /**
   * One invoice found again, so that its pending documents are tried with fresh links (README "How it
   * flows"), given what was known when they were missed. Default: fetchById. For APIs without a call by
   * id (CM360 finds it in its issue month's listing).
   */
  refetch?(
    ctx: ProviderContext<C>,
    scope: string,
    invoiceId: string,
    known: { issuedOn?: string },
  ): Promise<{ item: unknown; raw: RawAnswer } | undefined>;
  /**
   * What a page's stored name says it answers instead of the window's dates, when the API's query does not
   * follow them (CM360 lists whole issue months): the same page then keeps its key as the daily window
   * moves, and is not written again while it holds the same invoices.
   */
  pageWindow?(window: Window): { from: string; to: string };
  /** How long a throttled listing waits before it comes back (to earn back more of the burst). */
  throttledWaitMs?(ctx: ProviderContext<C>, operation: string): number;
  /** Items of a page worked on at once (default 1); batched enrichment works a batch at a time. */
  concurrency?: number;
  /**
   * What the month files need beyond the normalized invoice: provider keys kept with each invoice in the
   * table, and a decoration made when a month is published (SP-API links the XMLs its exports indexed).
   */
  publish?: {
    matchOf?(item: I): Record<string, string> | undefined;
    decorate?(ctx: ProviderContext<C>, file: MonthFile): Promise<Decorate | undefined>;
  };
}

export interface ExportCreated {
  exportId: string;
  details?: Record<string, unknown>;
}

/** An export job: created once per (scope, window, arguments), polled until done, its documents copied. */
export interface ExportJob<C extends Connection = Connection> {
  kind: 'export';
  name: string;
  /** As ListingJob.route. */
  route?: string;
  /** Scopes of this job (default: the connection's scopes). */
  scopes?(ctx: ProviderContext<C>, run: RunMessage): string[];
  /** Refuses to run for this connection (a missing setting): the reason, or undefined. */
  skip?(connection: C): string | undefined;
  /** Identity of the export in the registry, beyond provider, connection, scope and window. */
  identity(
    ctx: ProviderContext<C>,
    scope: string,
    window: Window,
  ): Record<string, string | number | boolean | readonly string[] | undefined>;
  /** Kept with the registry record (the window's date-times, filters). */
  details?(ctx: ProviderContext<C>, scope: string, window: Window): Record<string, unknown>;
  deadlineMs(): number;
  create(ctx: ProviderContext<C>, scope: string, window: Window): Promise<ExportCreated>;
  /**
   * Finds an export the provider already holds for this identity (after a create whose answer was lost).
   * Providers without a list operation leave it out: then an ambiguous create is not resent.
   */
  find?(
    ctx: ProviderContext<C>,
    scope: string,
    window: Window,
    claimedAt: Date,
  ): Promise<ExportCreated | undefined>;
  check(message: PollMessage, ctx: ProviderContext<C>): Promise<ExportCheck>;
  /** Opens one document for copying; asks for a fresh download URL every time it is called. */
  open(message: PollMessage, documentId: string, ctx: ProviderContext<C>): Promise<OpenedDocument>;
}

// A spec's jobs each have their own item and detail types; the engine only passes them between the job's own hooks.
// biome-ignore lint/suspicious/noExplicitAny: item types are the job's own (its hooks take them as parameters)
export type JobSpec<C extends Connection = Connection> = ListingJob<C, any, any> | ExportJob<C>;

export interface ProviderSpec<C extends Connection = Connection> {
  id: ProviderId;
  client: ClientSpec<C>;
  /** The connection secret's shape; the engine parses it and names a bad field (never a value). */
  secret: z.ZodType<Record<string, string>>;
  /** Scopes when the connection says "discover" (the call's answer is kept raw by the spec). */
  discoverScopes(ctx: ProviderContext<C>): Promise<string[]>;
  jobs: readonly JobSpec<C>[];
  /**
   * Control totals across the provider's views of a connection's run, once all its messages are done
   * (shared/engine/reconcile-connection.ts): a report against the invoices that landed, an export against
   * the listing. Gaps are streamed: a month of them is never held at once.
   */
  reconcile?(input: ReconcileInput<C>): AsyncIterable<Gap>;
}
