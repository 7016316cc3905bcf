import type { SimInvoice } from './data.ts';
import type { SpSimSettings } from './settings.ts';

export type GapKind = 'missingXml' | 'nfeTotalOff' | 'unlisted';

/**
 * Which invoices carry which gap (settings.gaps): authorized ones from the oldest, each kind after the
 * one before, so no invoice carries two and none sits on the window's last day, which the control totals
 * leave to the next run. Decided from the settings alone, the same for the listing and the exports.
 */
export function planGaps(invoices: readonly SimInvoice[], gaps: SpSimSettings['gaps']): Map<string, GapKind> {
  const plan = new Map<string, GapKind>();
  const kinds: GapKind[] = [
    ...Array<GapKind>(gaps.missingXml).fill('missingXml'),
    ...Array<GapKind>(gaps.nfeTotalOff).fill('nfeTotalOff'),
    ...Array<GapKind>(gaps.unlisted).fill('unlisted'),
  ];
  for (const inv of invoices) {
    if (plan.size >= kinds.length) break;
    if (inv.status === 'AUTHORIZED') plan.set(inv.id, kinds[plan.size]!);
  }
  return plan;
}
