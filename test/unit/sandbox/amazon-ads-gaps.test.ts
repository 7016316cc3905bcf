import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { connectionData, decimal, total } from '../../../infra/sandbox/amazon-ads/data.ts';
import { gapInvoices } from '../../../infra/sandbox/amazon-ads/gaps.ts';
import { statementCsv } from '../../../infra/sandbox/amazon-ads/payloads.ts';
import { parseAdsSimSettings } from '../../../infra/sandbox/amazon-ads/settings.ts';

/** The Amazon Ads simulator's gap switches: which invoices they pick, and what the statement then says. */

const data = connectionData('ads-gaps', { seed: 5, size: 0.1, today: Date.parse('2026-03-01T00:00:00Z') });
const ALL = ['2000-01-01', '2100-01-01'] as const;
const rows = (csv: Buffer) => parse(csv, { columns: true, bom: true }) as Array<Record<string, string>>;

describe('amazon-ads simulator gap switches', () => {
  it('are off by default: the statement states every invoice as the API does, tax included', () => {
    const settings = parseAdsSimSettings({});
    expect(settings.gaps).toEqual({});
    const picked = gapInvoices(data, settings.gaps);
    expect(Object.values(picked).every((s) => s.size === 0)).toBe(true);
    const byId = new Map(rows(statementCsv(data, ...ALL, [], picked).csv).map((r) => [r['Invoice ID'], r]));
    const invoices = data.profiles.filter((p) => p.billing).flatMap((p) => p.invoices);
    expect(byId.size).toBe(invoices.length);
    for (const inv of invoices) {
      const r = byId.get(inv.id)!;
      expect([r['Invoice total'], r.Tax, r.Currency]).toEqual([
        decimal(total(inv), inv.scale),
        decimal(inv.tax, inv.scale),
        inv.currency,
      ]);
    }
  });

  it('a count takes the latest issued invoices, a different one for each switch; ids are taken as given', () => {
    const one = {
      notInApi: 1,
      notInReport: 1,
      amountOff: 1,
      taxOff: 1,
      currencyOff: 1,
      missingPdf: 1,
      unofferedPdf: 1,
    };
    const picked = gapInvoices(data, parseAdsSimSettings({ gaps: one }).gaps);
    const ids = Object.values(picked).flatMap((s) => [...s]);
    expect(ids).toHaveLength(7);
    expect(new Set(ids).size).toBe(7);
    for (const id of ids) {
      const inv = data.byInvoiceId.get(id)!;
      expect(['ACCUMULATING', 'PROCESSING']).not.toContain(inv.status);
    }
    expect([...gapInvoices(data, { amountOff: ['X1', 'X2'] }).amountOff]).toEqual(['X1', 'X2']);
    expect(() => parseAdsSimSettings({ gaps: { amountOf: 1 } })).toThrow(/settings\.gaps/);
  });

  it('the statement leaves out, or gets wrong, exactly the invoices picked', () => {
    const gaps = parseAdsSimSettings({
      gaps: { notInReport: 1, amountOff: 1, taxOff: 1, currencyOff: 1 },
    }).gaps;
    const picked = gapInvoices(data, gaps);
    const [gone] = picked.notInReport;
    const [off] = picked.amountOff;
    const [taxed] = picked.taxOff;
    const [other] = picked.currencyOff;
    const statement = rows(statementCsv(data, ...ALL, [], picked).csv);
    const row = (id: string) => statement.find((r) => r['Invoice ID'] === id)!;
    expect(statement.some((r) => r['Invoice ID'] === gone)).toBe(false);
    const offInv = data.byInvoiceId.get(off!)!;
    expect(row(off!)['Invoice total']).toBe(decimal(total(offInv) + 1n, offInv.scale));
    const taxInv = data.byInvoiceId.get(taxed!)!;
    expect(row(taxed!).Tax).toBe(decimal(taxInv.tax + 1n, taxInv.scale));
    expect(row(other!).Currency).not.toBe(data.byInvoiceId.get(other!)!.currency);
  });
});
