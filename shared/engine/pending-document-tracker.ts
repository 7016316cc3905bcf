import type { Connection } from '../config/schema.ts';
import type { InvoiceDocument } from '../invoice/model.ts';
import type { DocumentMiss, PendingDocument, ProviderContext } from '../providers/types.ts';
import { pendingDocumentMaxAgeDays } from './pending-document-max-age.ts';

const DAY_MS = 86_400_000;

/** A document's file name: the last part of its key, unique within its invoice's folder. */
const documentName = (key: string) => key.slice(key.lastIndexOf('/') + 1);

/** The record keeps why, not which: the problem's "invoice <id>: <type> not copied: " goes. */
const causeOf = (miss: DocumentMiss) =>
  miss.message.replace(`invoice ${miss.invoiceId}: `, '').replace(`${miss.type} not copied: `, '');

/** What happened to a document of an invoice in this invocation. */
export type DocumentOutcome = 'landed' | 'missed';

/**
 * One invocation's bookkeeping of documents that could not be landed. The job's hooks get `context`,
 * through which copyDocument hands over each document it could not land; once the engine is done with
 * the invoice (`settle`), each miss is recorded pending in the state table and reported as a problem
 * saying until when later runs try it again, and each document that did land clears its pending record,
 * whether a retry or the listing itself landed it. A scope's pending records are read once, when the
 * first invoice with documents lands: most invocations have nothing pending, and ask once.
 */
export class PendingDocumentTracker<C extends Connection = Connection> {
  readonly context: ProviderContext<C>;
  readonly #misses = new Map<string, DocumentMiss[]>();
  readonly #known = new Map<string, Promise<Map<string, PendingDocument>>>();
  readonly #outcomes = new Map<string, DocumentOutcome>();

  constructor(private readonly ctx: ProviderContext<C>) {
    this.context = {
      ...ctx,
      documentMissed: (miss) => {
        const list = this.#misses.get(miss.invoiceId) ?? [];
        list.push(miss);
        this.#misses.set(miss.invoiceId, list);
      },
    };
  }

  /** Whether this invocation landed or missed the document (undefined: neither was tried). */
  outcome(scope: string, invoiceId: string, name: string): DocumentOutcome | undefined {
    return this.#outcomes.get(`${scope}#${invoiceId}#${name}`);
  }

  /**
   * After an invoice: its misses recorded pending and reported, the documents that landed (`landed`,
   * those of its normalized line) cleared from the pending ones.
   */
  async settle(
    scope: string,
    invoiceId: string,
    issuedOn: string | undefined,
    landed: readonly InvoiceDocument[],
  ): Promise<void> {
    const { ctx } = this;
    const misses = this.#misses.get(invoiceId) ?? [];
    this.#misses.delete(invoiceId);
    for (const miss of misses) {
      const name = documentName(miss.key);
      const record = await ctx.state.recordPendingDocument(
        {
          provider: ctx.connection.provider,
          connection: ctx.connection.id,
          scope,
          invoiceId,
          name,
          type: miss.type,
          key: miss.key,
          ...(issuedOn ? { issuedOn } : {}),
          code: miss.code,
          reason: causeOf(miss),
        },
        ctx.runId,
      );
      this.#outcomes.set(`${scope}#${invoiceId}#${name}`, 'missed');
      (await this.#known.get(scope))?.set(`${invoiceId}#${name}`, record);
      ctx.reportProblem({
        code: miss.code,
        message: `${miss.message}; ${this.#note(record)}`,
        key: miss.key,
      });
    }
    if (landed.length === 0) return;
    const known = await this.#pendingOf(scope);
    for (const doc of landed) {
      const name = documentName(doc.key);
      this.#outcomes.set(`${scope}#${invoiceId}#${name}`, 'landed');
      const record = known.get(`${invoiceId}#${name}`);
      if (!record) continue;
      known.delete(`${invoiceId}#${name}`);
      await ctx.state.deletePendingDocument(record);
      ctx.log.info('pending document landed', {
        invoiceId,
        type: record.type,
        attempts: record.attempts,
        firstSeenAt: record.firstSeenAt,
      });
    }
  }

  /**
   * A pending document this run tried and did not land, nor see missed (not offered, the invoice not found,
   * the retry failed): one more attempt on its record, and a problem of this run naming it. With
   * `attempted: false`, only the problem (it waits for a later run).
   */
  async stillPending(record: PendingDocument, why: string, attempted = true): Promise<void> {
    const now = attempted
      ? await this.ctx.state.recordPendingDocument(
          { ...record, code: 'DOCUMENT_PENDING', reason: why },
          this.ctx.runId,
        )
      : record;
    this.ctx.reportProblem({
      code: 'DOCUMENT_PENDING',
      message: `invoice ${record.invoiceId}: ${record.type} not copied: ${why}; ${this.#note(now)}`,
      key: record.key,
    });
  }

  /** The scope's pending documents by invoiceId#name, read once per invocation (misses recorded since are added). */
  #pendingOf(scope: string): Promise<Map<string, PendingDocument>> {
    let known = this.#known.get(scope);
    if (!known) {
      const { connection } = this.ctx;
      known = this.ctx.state
        .listPendingDocuments(connection.provider, connection.id, scope)
        .then((list) => new Map(list.map((d) => [`${d.invoiceId}#${d.name}`, d])));
      this.#known.set(scope, known);
    }
    return known;
  }

  #note(record: PendingDocument): string {
    const until = new Date(Date.parse(record.firstSeenAt) + pendingDocumentMaxAgeDays() * DAY_MS)
      .toISOString()
      .slice(0, 10);
    return record.attempts <= 1
      ? `pending: later runs try it again until ${until}`
      : `pending since ${record.firstSeenAt.slice(0, 10)} (${record.attempts} attempts): later runs try it again until ${until}`;
  }
}
