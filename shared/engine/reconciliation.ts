import type { Connection, ProviderId } from '../config/schema.ts';
import type { NormalizedInvoice } from '../invoice/model.ts';
import { addDecimals, negateDecimal } from '../invoice/money.ts';
import type { Window } from '../jobs/messages.ts';
import type { ExportRecord, ProviderContext } from '../providers/types.ts';
import type { TableEntry } from './invoice-table.ts';

/**
 * One thing that does not add up, itemised: which invoice, which field, what one view of the money says
 * (`expected`) and what landed or the other view says (`found`). Codes are the provider's own words for the
 * check (README "Control totals" lists them), in kebab case.
 */
export interface Gap {
  code: string;
  scope: string;
  invoiceId?: string;
  field?: string;
  expected?: string | null;
  found?: string | null;
  message: string;
}

/** A scope a run covered for one of the provider's jobs, and the window it covered. */
export interface RunScope {
  job: string;
  scope: string;
  window: Window;
}

/** What a provider's cross-check sees of one connection's run (ProviderSpec.reconcile). */
export interface ReconcileInput<C extends Connection = Connection> {
  ctx: ProviderContext<C>;
  /** Every (job, scope, window) the run covered for the connection. */
  scopes: readonly RunScope[];
  /** The table's invoices of a scope issued within the window (latest of each, each once), month by month. */
  invoices(scope: string, window: Window): AsyncIterable<TableEntry>;
  /** The export the job used for this scope and window (the registry's record), if there is one. */
  exportOf(job: string, scope: string, window: Window): Promise<ExportRecord | undefined>;
}

/** Invoices and money by currency and status: sums of exact decimals, never floats. */
export interface TotalsRow {
  currency: string | null;
  status: string | null;
  invoices: number;
  /** Sums over the invoices that state the amount; null when none does (SP-API's listing carries none). */
  total: string | null;
  tax: string | null;
  amountDue: string | null;
}

/** A connection's control totals for one run: in the run record, the reconciliation file, the summary. */
export interface ReconciliationSummary {
  runId: string;
  provider: ProviderId;
  connection: string;
  reconciledAt: string;
  /** The reconciliation file (JSON lines: the gaps, then this summary). */
  key: string;
  scopes: RunScope[];
  /** Invoices of the run's windows in the table. */
  invoices: number;
  totals: TotalsRow[];
  /** Documents of the connection recorded pending (promised, not landed). */
  documentsMissing: number;
  gaps: number;
  gapsByCode: Record<string, number>;
}

/** Counts and sums the invoices of a window by currency and status. */
export class Totals {
  readonly #rows = new Map<string, TotalsRow>();
  #count = 0;

  add(invoice: NormalizedInvoice): void {
    this.#count++;
    const id = JSON.stringify([invoice.currency, invoice.status]);
    const row = this.#rows.get(id) ?? {
      currency: invoice.currency,
      status: invoice.status,
      invoices: 0,
      total: null,
      tax: null,
      amountDue: null,
    };
    row.invoices++;
    const plus = (sum: string | null, value: string | null) =>
      value === null ? sum : sum === null ? addDecimals(value) : addDecimals(sum, value);
    row.total = plus(row.total, invoice.total);
    row.tax = plus(row.tax, invoice.tax);
    row.amountDue = plus(row.amountDue, invoice.remainingDue ?? invoice.amountDue);
    this.#rows.set(id, row);
  }

  get invoices(): number {
    return this.#count;
  }

  rows(): TotalsRow[] {
    // Ordinal order, an empty currency or status last: the same rows in the same order on every run.
    const key = (v: string | null) => (v === null ? '\uffff' : v);
    const cmp = (a: string | null, b: string | null) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
    return [...this.#rows.values()].sort((a, b) => cmp(a.currency, b.currency) || cmp(a.status, b.status));
  }
}

/** Whether two decimal strings are the same amount (`10.50` and `10.5`). */
export function sameAmount(a: string | null | undefined, b: string | null | undefined): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
  return addDecimals(a, negateDecimal(b)) === '0';
}
