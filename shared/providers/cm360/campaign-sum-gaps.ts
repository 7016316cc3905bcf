import type { Gap } from '../../engine/reconciliation.ts';
import { microsToDecimal } from '../../invoice/money.ts';
import type { CampaignSummary, Cm360Invoice, Int64 } from './api.ts';

/** Gap code: an invoice amount that its campaign summaries do not add up to, to the micro. */
export const CAMPAIGN_SUM_DIFFERS = 'campaign-sum-differs';

/** Each invoice amount and the campaign summaries' amount of the same kind (pre-tax, tax, total). */
const SUMS: ReadonlyArray<{ campaign: keyof CampaignSummary; invoice: keyof Cm360Invoice }> = [
  { campaign: 'preTaxAmountMicros', invoice: 'subtotalAmountMicros' },
  { campaign: 'taxAmountMicros', invoice: 'totalTaxAmountMicros' },
  { campaign: 'totalAmountMicros', invoice: 'totalAmountMicros' },
];

/**
 * Where an invoice's campaign summaries (`campaign_summaries`) do not add up to its own amounts, one gap
 * per amount: expected is the invoice's micros, found the summaries' sum, both as the int64 strings the
 * API speaks (summed with BigInt: micros pass 2^53). An amount the invoice or one of its summaries leaves
 * out cannot be compared like with like, and an invoice without summaries has no breakdown to check.
 */
export function campaignSumGaps(advertiserId: string, inv: Cm360Invoice): Gap[] {
  const summaries = inv.campaign_summaries ?? [];
  if (summaries.length === 0) return [];
  const gaps: Gap[] = [];
  for (const { campaign, invoice } of SUMS) {
    const stated = inv[invoice] as Int64 | undefined;
    const parts = summaries.map((s) => s[campaign] as Int64 | undefined);
    if (stated === undefined || parts.some((p) => p === undefined)) continue;
    const sum = parts.reduce<bigint>((n, p) => n + BigInt(p!), 0n);
    if (sum === BigInt(stated)) continue;
    gaps.push({
      code: CAMPAIGN_SUM_DIFFERS,
      scope: advertiserId,
      invoiceId: inv.id,
      field: invoice,
      expected: String(stated),
      found: sum.toString(),
      message:
        `${invoice} ${microsToDecimal(String(stated))} but its ${summaries.length} campaign summaries' ` +
        `${campaign} add up to ${microsToDecimal(sum.toString())}`,
    });
  }
  return gaps;
}
