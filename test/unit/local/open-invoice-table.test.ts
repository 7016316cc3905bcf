import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type InvoiceTable,
  NoInvoicesError,
  openInvoiceTable,
} from '../../../infra/local/open-invoice-table.ts';
import { READY_ANSWERS } from '../../../shared/invoice/ready-answers.ts';
import { duckdbType, INVOICE_COLUMNS } from '../../../shared/invoice/table-columns.ts';
import { invoiceLine, writeMonthFile } from '../../helpers/month-files.ts';

// The `invoices` table over a mirror, read by DuckDB: two providers, two months, micros-precise money, an
// invoice in two months (its issue date moved; the later fetch wins), a timestamp with an offset.

const dir = mkdtempSync(join(tmpdir(), 'invoice-table-'));
const out = join(dir, 'out');
let table: InvoiceTable;

beforeAll(async () => {
  writeMonthFile(out, '2026-01', [
    invoiceLine({ invoiceId: 'C1', subtotal: '1234567890123.456789', total: '1234567890123.456789' }),
    invoiceLine({ invoiceId: 'C2', total: '0.000001', servicePeriod: { from: '2026-01-01', to: null } }),
  ]);
  writeMonthFile(out, '2026-02', [
    invoiceLine({
      invoiceId: 'C1',
      issuedOn: '2026-02-01',
      subtotal: '1234567890123.456790',
      total: '1234567890123.456790',
      fetchedAt: '2026-03-02T06:00:00.000Z',
    }),
    invoiceLine({ invoiceId: 'C3', issuedOn: '2026-02-03', total: '-50.25', kind: 'CREDIT_NOTE' }),
  ]);
  const ads = { provider: 'amazon-ads', connection: 'ads-na', account: '222', currency: 'BRL' } as const;
  writeMonthFile(out, '2026-01', [
    invoiceLine({ ...ads, invoiceId: 'A1', total: '100.00', amountDue: '100.00', remainingDue: '25.50' }),
    invoiceLine({
      ...ads,
      invoiceId: 'A2',
      total: '10.00',
      amountDue: '10.00',
      remainingDue: '0.00',
      status: 'ACCUMULATING',
      documents: [],
      fetchedAt: '2026-03-01T08:00:00.000+02:00',
    }),
  ]);
  table = await openInvoiceTable(out);
});
afterAll(() => {
  table?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the invoices table on a laptop', () => {
  it('has the columns and types of the Glue table, in its order', async () => {
    const described = await table.query('DESCRIBE invoices');
    // DuckDB prints a struct's field names quoted only where the name is a keyword ("type", "key").
    const unquoted = (type: unknown) => String(type).replaceAll('"', '');
    const rows = described.rows.map(([name, type]) => [name, unquoted(type)]);
    expect(rows).toEqual(INVOICE_COLUMNS.map((c) => [c.name, unquoted(duckdbType(c.type))]));
  });

  it('keeps money exact to the micro, and reads dates as DATE and fetchedAt as a UTC TIMESTAMP', async () => {
    const r = await table.query(
      "SELECT total, issuedon, serviceperiod, fetchedat FROM invoices WHERE invoiceid = 'C1' ORDER BY fetchedat",
    );
    expect(r.types).toEqual(['DECIMAL(38,6)', 'DATE', 'STRUCT("from" DATE, "to" DATE)', 'TIMESTAMP']);
    expect(r.rows).toEqual([
      ['1234567890123.456789', '2026-01-15', { from: '2026-01-01', to: '2026-01-31' }, '2026-03-01 06:00:00'],
      ['1234567890123.456790', '2026-02-01', { from: '2026-01-01', to: '2026-01-31' }, '2026-03-02 06:00:00'],
    ]);
    const sum = await table.query(
      "SELECT sum(total) FROM invoices WHERE provider = 'cm360' AND issue_month = '2026-01'",
    );
    expect(sum.rows).toEqual([['1234567890123.456790']]);
    const offset = await table.query("SELECT fetchedat FROM invoices WHERE invoiceid = 'A2'");
    expect(offset.rows).toEqual([['2026-03-01 06:00:00']]);
    const dates = await table.query("SELECT dueon - issuedon FROM invoices WHERE invoiceid = 'C2'");
    expect(dates.rows).toEqual([['30']]);
  });

  it('reads provider and issue_month from the path', async () => {
    const r = await table.query(
      'SELECT provider, issue_month, count(*) FROM invoices GROUP BY ALL ORDER BY provider, issue_month',
    );
    expect(r.rows).toEqual([
      ['amazon-ads', '2026-01', '2'],
      ['cm360', '2026-01', '2'],
      ['cm360', '2026-02', '2'],
    ]);
  });

  it('gives one row per invoice, its latest version, in invoices_latest', async () => {
    const all = await table.query('SELECT count(*) FROM invoices');
    expect(all.rows).toEqual([['6']]);
    const latest = await table.query(
      'SELECT provider, invoiceid, issue_month, total FROM invoices_latest ORDER BY provider, invoiceid',
    );
    expect(latest.rows).toEqual([
      ['amazon-ads', 'A1', '2026-01', '100.000000'],
      ['amazon-ads', 'A2', '2026-01', '10.000000'],
      ['cm360', 'C1', '2026-02', '1234567890123.456790'],
      ['cm360', 'C2', '2026-01', '0.000001'],
      ['cm360', 'C3', '2026-02', '-50.250000'],
    ]);
    const described = await table.query('DESCRIBE invoices_latest');
    expect(described.rows.map(([name]) => name)).toEqual(INVOICE_COLUMNS.map((c) => c.name));
  });

  it('runs the ready answers', async () => {
    const answers = Object.fromEntries(
      await Promise.all(
        READY_ANSWERS.map(async (a) => [a.name, await table.query(a.sql('duckdb'))] as const),
      ),
    );
    const totals = answers.totals!;
    expect(totals.columns).toEqual([
      'provider',
      'currency',
      'issue_month',
      'invoices',
      'credit_notes',
      'subtotal',
      'tax',
      'total',
    ]);
    // C1 counts once, in the month of its latest version.
    expect(totals.rows.map((r) => [r[0], r[2], r[3], r[4], r[7]])).toEqual([
      ['amazon-ads', '2026-01', '2', '0', '110.000000'],
      ['cm360', '2026-01', '1', '0', '0.000001'],
      ['cm360', '2026-02', '2', '1', '1234567890073.206790'],
    ]);
    expect(answers['still-due']!.rows).toEqual([
      ['amazon-ads', 'ads-na', 'BRL', '1', '25.500000', '2026-02-14', '2026-02-14'],
    ]);
    expect(answers['missing-documents']!.rows).toEqual([
      ['amazon-ads', 'ads-na', '2', '1'],
      ['cm360', 'cm360-main', '3', '0'],
    ]);
  });

  it("answers bad SQL with DuckDB's error", async () => {
    await expect(table.query('SELEC 1')).rejects.toThrow(/Parser Error/);
    await expect(table.query('SELECT nope FROM invoices')).rejects.toThrow(/Binder Error/);
  });
});

describe('nothing to query, or a file that cannot be read', () => {
  it('says so when the mirror is missing', async () => {
    await expect(openInvoiceTable(join(dir, 'absent'))).rejects.toThrow(NoInvoicesError);
    await expect(openInvoiceTable(join(dir, 'absent'))).rejects.toThrow(/no mirror at .*run npm start/);
  });

  it('names a month file it cannot read', async () => {
    const bad = join(dir, 'bad');
    writeMonthFile(bad, '2026-01', [invoiceLine({ invoiceId: 'C1' })]);
    appendFileSync(
      join(bad, 'invoices/provider=cm360/issue_month=2026-01/cm360-main-111.jsonl'),
      '{"invoiceId": \n',
    );
    const broken = await openInvoiceTable(bad);
    try {
      await expect(broken.query('SELECT count(*) FROM invoices')).rejects.toThrow(
        /Malformed JSON in file ".*cm360-main-111\.jsonl"/,
      );
    } finally {
      broken.close();
    }
  });

  it('says so when the mirror has no month file', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(join(empty, 'raw'), { recursive: true });
    await expect(openInvoiceTable(empty)).rejects.toThrow(/no month files in/);
  });
});
