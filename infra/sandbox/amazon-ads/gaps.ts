import type { ConnectionData, SimInvoice } from './data.ts';
import type { AdsSimSettings } from './settings.ts';

export type GapKind = keyof AdsSimSettings['gaps'];

/** Fixed order: asked by count, each kind takes the next invoices, so no invoice has two kinds. */
const KINDS: readonly GapKind[] = [
  'notInApi',
  'notInReport',
  'amountOff',
  'taxOff',
  'currencyOff',
  'missingPdf',
  'unofferedPdf',
];

export type GapInvoices = Record<GapKind, ReadonlySet<string>>;

const issued = (inv: SimInvoice) => inv.status !== 'ACCUMULATING' && inv.status !== 'PROCESSING';

/**
 * The invoices each gap switch applies to in one connection's data. A count takes the latest issued
 * invoices of the billing profiles (newest first, so a run over the lookback meets them; issued, so each
 * has a PDF to promise and the statement must list it).
 */
export function gapInvoices(data: ConnectionData, gaps: AdsSimSettings['gaps']): GapInvoices {
  const latest = data.profiles
    .filter((p) => p.billing)
    .flatMap((p) => p.invoices)
    .filter(issued)
    .sort((a, b) =>
      a.invoiceDate === b.invoiceDate ? a.id.localeCompare(b.id) : a.invoiceDate < b.invoiceDate ? 1 : -1,
    );
  let next = 0;
  const out = {} as Record<GapKind, Set<string>>;
  for (const kind of KINDS) {
    const pick = gaps[kind];
    if (Array.isArray(pick)) out[kind] = new Set(pick);
    else {
      const ids = latest.slice(next, next + (pick ?? 0)).map((i) => i.id);
      next += ids.length;
      out[kind] = new Set(ids);
    }
  }
  return out;
}
