import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openInvoiceTable } from '../../../infra/local/open-invoice-table.ts';
import { invoiceLine, writeMonthFile } from '../../helpers/month-files.ts';

// `npm run query` reads the control totals' files as two tables beside `invoices`.

const dir = mkdtempSync(join(tmpdir(), 'reconciliation-views-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function mirror(name: string, files: Record<string, object[]>): string {
  const out = join(dir, name);
  writeMonthFile(out, '2026-01', [invoiceLine({ invoiceId: 'C1', total: '1.00' })]);
  for (const [key, lines] of Object.entries(files)) {
    mkdirSync(join(out, key, '..'), { recursive: true });
    writeFileSync(join(out, key), lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  }
  return out;
}

describe('the control totals on a laptop', () => {
  it('gives one row per gap and one per run and connection', async () => {
    const base = { runId: 'r-1', provider: 'cm360', connection: 'cm360-main' };
    const out = mirror('with', {
      'reconciliation/provider=cm360/connection=cm360-main/r-1.jsonl': [
        {
          record: 'gap',
          ...base,
          code: 'campaign-sum-differs',
          scope: '123',
          invoiceId: 'C1',
          field: 'total',
          expected: '1.000001',
          found: '1',
          message: 'off by one micro',
        },
        {
          record: 'summary',
          ...base,
          reconciledAt: '2026-03-01T00:00:00.000Z',
          key: 'reconciliation/provider=cm360/connection=cm360-main/r-1.jsonl',
          scopes: [],
          invoices: 1,
          totals: [{ currency: 'USD', status: null, invoices: 1, total: '1', tax: null, amountDue: null }],
          documentsMissing: 0,
          gaps: 1,
          gapsByCode: { 'campaign-sum-differs': 1 },
        },
      ],
    });
    const table = await openInvoiceTable(out);
    try {
      const gaps = await table.query(
        'SELECT run_id, code, invoice_id, field, expected, found FROM reconciliation_gaps',
      );
      expect(gaps.rows).toEqual([['r-1', 'campaign-sum-differs', 'C1', 'total', '1.000001', '1']]);
      const runs = await table.query(
        'SELECT connection, invoices, gaps, documents_missing FROM reconciliations',
      );
      expect(runs.rows).toEqual([['cm360-main', '1', '1', '0']]);
    } finally {
      table.close();
    }
  });

  it('has both tables, empty, before any run was reconciled', async () => {
    const table = await openInvoiceTable(mirror('without', {}));
    try {
      expect((await table.query('SELECT count(*) FROM reconciliation_gaps')).rows).toEqual([['0']]);
      expect((await table.query('SELECT * FROM reconciliations')).columns).toContain('gaps_by_code');
    } finally {
      table.close();
    }
  });
});
