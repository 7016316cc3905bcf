import { rawPayloadKey } from '../../aws/keys.ts';
import { listingPageName } from '../../engine/run-listing.ts';
import type { Window } from '../../jobs/messages.ts';
import type { ProviderContext } from '../types.ts';
import { type Assembly, assembleInvoices, readDetails } from './assemble.ts';
import { readTransactions, type TransactionLedger } from './transactions.ts';

/**
 * The answers of one listing (connection, scope, window) that its later phases read again: the engine
 * stores every page raw as it comes, so a later phase (maybe in another invocation, after a continuation)
 * reads them back from there, and in the same invocation from memory.
 *
 * The key is the engine's name for a listing's page (shared/engine/run-listing.ts, `pageName`): the
 * engine does not hand it to `page()`, so it is repeated here; the tests that resume a listing in a new
 * container read the pages back by it, so a change on either side fails them.
 */
export function listingPageKey(
  ctx: ProviderContext,
  scope: string,
  job: string,
  window: Window,
  page: number,
): string {
  return rawPayloadKey(ctx.connection.provider, ctx.connection.id, scope, listingPageName(job, window, page));
}

interface Memo {
  pages: Map<number, string>;
  ledger?: { t: number; value: TransactionLedger };
  assembly?: { t: number; d: number; value: Assembly };
}

/** A few listings per container: a warm container mostly works one listing's continuations in a row. */
const MAX_MEMOS = 4;
const memos = new Map<string, Memo>();

function memoOf(ctx: ProviderContext, scope: string, window: Window): Memo {
  // The run id is part of the key: a rerun of the same window must read its own answers, not a past run's.
  const key = [ctx.runId, ctx.connection.id, scope, window.from, window.to].join('|');
  let memo = memos.get(key);
  if (!memo) {
    memo = { pages: new Map() };
    memos.set(key, memo);
    while (memos.size > MAX_MEMOS) memos.delete(memos.keys().next().value!);
  }
  return memo;
}

export class ListingPages {
  readonly #memo: Memo;

  constructor(
    private readonly ctx: ProviderContext,
    private readonly scope: string,
    private readonly job: string,
    private readonly window: Window,
  ) {
    this.#memo = memoOf(ctx, scope, window);
  }

  /** A page's answer as it was fetched now (the engine stores it right after). */
  remember(page: number, body: string): void {
    const memo = this.#memo;
    memo.pages.set(page, body);
    // A page fetched again (a redelivered message) may say something new: what was built on it is rebuilt.
    if (memo.ledger && page < memo.ledger.t) delete memo.ledger;
    if (memo.assembly && page < memo.assembly.t + memo.assembly.d) delete memo.assembly;
  }

  async #page(page: number): Promise<string> {
    const known = this.#memo.pages.get(page);
    if (known !== undefined) return known;
    const key = listingPageKey(this.ctx, this.scope, this.job, this.window, page);
    const body = await this.ctx.sink.getText(key);
    if (body === undefined)
      throw new Error(`amazon-business: page ${page} of this listing is not stored (${key})`);
    this.#memo.pages.set(page, body);
    return body;
  }

  async #pages(from: number, to: number): Promise<string[]> {
    const out: string[] = [];
    for (let p = from; p < to; p++) out.push(await this.#page(p));
    return out;
  }

  /** The window's transactions and order line items, from its `t` transaction pages. */
  async ledger(t: number): Promise<TransactionLedger> {
    const known = this.#memo.ledger;
    if (known?.t === t) return known.value;
    const value = readTransactions(await this.#pages(0, t));
    this.#memo.ledger = { t, value };
    return value;
  }

  /** The window's invoices, from its `t` transaction pages and the `d` details answers after them. */
  async assembly(t: number, d: number): Promise<Assembly> {
    const known = this.#memo.assembly;
    if (known?.t === t && known.d === d) return known.value;
    const ledger = await this.ledger(t);
    const details = readDetails(await this.#pages(t, t + d));
    const value = assembleInvoices(ledger, details, this.window);
    this.#memo.assembly = { t, d, value };
    return value;
  }
}

/** Forgets every listing held in memory, as a new container would start (tests). */
export function forgetListings(): void {
  memos.clear();
}
