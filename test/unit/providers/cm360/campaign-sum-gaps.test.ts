import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CAMPAIGN_SUM_DIFFERS,
  campaignSumGaps,
} from '../../../../shared/providers/cm360/campaign-sum-gaps.ts';
import { cm360Spec } from '../../../../shared/providers/cm360/spec.ts';
import { cm360Invoice } from '../../../helpers/cm360-invoice.ts';
import { normalizedInvoice } from '../../../helpers/normalized-invoice.ts';

const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };
const ADVERTISER = '12345';

describe('campaign summaries against the invoice', () => {
  it('agree when they add up to the micro, whatever the amounts; one micro off in one summary is one gap', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ pre: fc.bigInt(INT64), tax: fc.bigInt(INT64) }), { minLength: 1, maxLength: 6 }),
        fc.constantFrom('preTaxAmountMicros', 'taxAmountMicros', 'totalAmountMicros'),
        (parts, field) => {
          const sum = (pick: (p: (typeof parts)[number]) => bigint) =>
            parts.reduce((n, p) => n + pick(p), 0n);
          const inv = cm360Invoice({
            subtotalAmountMicros: sum((p) => p.pre).toString(),
            totalTaxAmountMicros: sum((p) => p.tax).toString(),
            totalAmountMicros: sum((p) => p.pre + p.tax).toString(),
            campaign_summaries: parts.map((p, i) => ({
              campaignId: String(i),
              preTaxAmountMicros: p.pre.toString(),
              taxAmountMicros: p.tax.toString(),
              totalAmountMicros: (p.pre + p.tax).toString(),
            })),
          });
          expect(campaignSumGaps(ADVERTISER, inv)).toEqual([]);
          const off = structuredClone(inv);
          const first = off.campaign_summaries![0]!;
          first[field] = (BigInt(first[field]!) + 1n).toString();
          const invoiceField = {
            preTaxAmountMicros: 'subtotalAmountMicros',
            taxAmountMicros: 'totalTaxAmountMicros',
            totalAmountMicros: 'totalAmountMicros',
          }[field] as 'subtotalAmountMicros' | 'totalTaxAmountMicros' | 'totalAmountMicros';
          const stated = inv[invoiceField]!;
          expect(campaignSumGaps(ADVERTISER, off)).toEqual([
            expect.objectContaining({
              code: CAMPAIGN_SUM_DIFFERS,
              scope: ADVERTISER,
              invoiceId: inv.id,
              field: invoiceField,
              expected: String(stated),
              found: (BigInt(stated) + 1n).toString(),
            }),
          ]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('itemises each amount that differs, in exact micros past 2^53, and says it in decimals', () => {
    const huge = '1234567890123456789';
    const inv = cm360Invoice({
      subtotalAmountMicros: huge,
      totalTaxAmountMicros: '0',
      totalAmountMicros: huge,
      campaign_summaries: [
        {
          preTaxAmountMicros: '9007199254740993',
          taxAmountMicros: '0',
          totalAmountMicros: '9007199254740993',
        },
        {
          preTaxAmountMicros: '1225560690868715795',
          taxAmountMicros: '0',
          totalAmountMicros: '1225560690868715795',
        },
      ],
    });
    // 9007199254740993 + 1225560690868715795 = 1234567890123456788: one micro short of each.
    expect(campaignSumGaps(ADVERTISER, inv)).toEqual([
      {
        code: CAMPAIGN_SUM_DIFFERS,
        scope: ADVERTISER,
        invoiceId: '4387427944',
        field: 'subtotalAmountMicros',
        expected: huge,
        found: '1234567890123456788',
        message:
          "subtotalAmountMicros 1234567890123.456789 but its 2 campaign summaries' preTaxAmountMicros add up to 1234567890123.456788",
      },
      expect.objectContaining({ field: 'totalAmountMicros', expected: huge, found: '1234567890123456788' }),
    ]);
  });

  it('compares only like with like: an amount left out on either side, or no summaries, is not checked', () => {
    expect(campaignSumGaps(ADVERTISER, cm360Invoice({ campaign_summaries: undefined }))).toEqual([]);
    expect(campaignSumGaps(ADVERTISER, cm360Invoice({ campaign_summaries: [] }))).toEqual([]);
    expect(campaignSumGaps(ADVERTISER, cm360Invoice({ subtotalAmountMicros: undefined }))).toEqual([]);
    const partial = cm360Invoice();
    delete partial.campaign_summaries![1]!.taxAmountMicros;
    partial.totalTaxAmountMicros = '1';
    expect(campaignSumGaps(ADVERTISER, partial)).toEqual([]);
  });

  it('is the listing job check: gaps of the invoice as it lands, scoped to its advertiser', () => {
    const job = cm360Spec.jobs[0]!;
    if (job.kind !== 'listing' || !job.check) throw new Error('the invoices job has no check');
    const inv = cm360Invoice({ subtotalAmountMicros: '16531650001' });
    const line = normalizedInvoice({
      connection: 'c',
      account: ADVERTISER,
      invoiceId: inv.id,
      invoiceNumber: inv.id,
      issuedOn: '2024-05-02',
      currency: 'EUR',
      subtotal: '16531.650001',
      tax: '3141.0135',
      total: '19672.6635',
      rawKey: 'raw/x',
      fetchedAt: '2024-05-03T00:00:00.000Z',
    });
    expect(job.check(inv, {}, line)).toEqual([
      expect.objectContaining({
        scope: ADVERTISER,
        invoiceId: inv.id,
        field: 'subtotalAmountMicros',
        expected: '16531650001',
        found: '16531650000',
      }),
    ]);
  });
});
