import type { Readable } from 'node:stream';
import { type Info, parse } from 'csv-parse';
import { type Gap, sameAmount } from '../../engine/reconciliation.ts';
import { toDecimal } from '../../invoice/money.ts';

/** One invoice as the billing statement (the global invoicing report) states it: small, held by id. */
export interface StatementInvoice {
  invoiceId: string;
  /** YYYY-MM-DD, or null when the report's date could not be read (then no window leaves it out). */
  issuedOn: string | null;
  country: string;
  currency: string;
  total: string;
  /** Null when the report has no tax column (then tax is not compared). */
  tax: string | null;
  /** Set once a landed invoice was matched with it. */
  matched?: boolean;
  /** Invoice-level fields already reported as inconsistent between the invoice's rows (each named once). */
  inconsistent?: string[];
}

type Column = 'invoiceId' | 'issuedOn' | 'country' | 'currency' | 'total' | 'tax';

/**
 * Header names per column, compared lowercased with everything but letters and digits left out. The models
 * do not describe the report's columns; these are the names the reports we read carry ("Invoice ID",
 * "Invoice date", "Country", "Currency", "Invoice total", "Tax") and their likely variants.
 */
const HEADERS: Record<Column, readonly string[]> = {
  invoiceId: ['invoiceid', 'invoicenumber'],
  issuedOn: ['invoicedate', 'issuedate'],
  country: ['country', 'countrycode', 'marketplace'],
  currency: ['currency', 'currencycode'],
  total: ['invoicetotal', 'invoiceamount', 'totalamount', 'amountdue'],
  tax: ['tax', 'invoicetax', 'taxamount', 'totaltax'],
};
const REQUIRED: readonly Column[] = ['invoiceId', 'country', 'currency', 'total'];

const squash = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '');

/** YYYY-MM-DD or yyyyMMdd to YYYY-MM-DD; anything else is not read (null). */
function reportDate(value: string): string | null {
  const v = value.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) return v;
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(v);
  return m ? `${m[1]}-${m[2]}-${m[3]}` : null;
}

function reportAmount(value: string): string | null {
  try {
    return toDecimal(value, 'amount');
  } catch {
    return null;
  }
}

export interface ReadStatementOptions {
  /** Gap scope: the global account the statement is for. */
  scope: string;
  /** The report's key, named in gaps about the file itself. */
  key: string;
  /** Rows of other countries are left out (the connection's countryCodes); absent: every country. */
  countries?: ReadonlySet<string>;
}

/**
 * Streams a billing statement CSV into `into`, one small record per invoice (the report has a row per
 * invoice line, each repeating the invoice's own fields). Yields what the report itself gets wrong: a file
 * whose header lacks a column we need, a row whose amount cannot be read, an invoice whose rows disagree.
 * Throws only if the source stream fails; a CSV the parser cannot read ends in one `report-unreadable` gap
 * and `complete: false`, so no comparison is made against a report read in part.
 */
export async function* readStatementInvoices(
  source: Readable,
  into: Map<string, StatementInvoice>,
  options: ReadStatementOptions,
): AsyncGenerator<Gap, { complete: boolean }> {
  const { scope, key, countries } = options;
  // `info`: each record with the line it ended on (the parser's own counter runs ahead of the reader).
  const parser = parse({ bom: true, skip_empty_lines: true, relax_column_count: true, info: true });
  source.on('error', (err) => parser.destroy(err));
  source.pipe(parser);
  let columns: Partial<Record<Column, number>> | undefined;
  const unreadable = (message: string, extra: Partial<Gap> = {}): Gap => ({
    code: 'report-unreadable',
    scope,
    message: `billing statement ${key}: ${message}`,
    ...extra,
  });
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: Info }>) {
      const line = info.lines;
      if (!columns) {
        columns = {};
        for (const [i, name] of record.entries()) {
          const column = (Object.keys(HEADERS) as Column[]).find((c) => HEADERS[c].includes(squash(name)));
          if (column && columns[column] === undefined) columns[column] = i;
        }
        const missing = REQUIRED.filter((c) => columns![c] === undefined);
        if (missing.length) {
          yield unreadable(`no ${missing.join(', ')} column in its header`, {
            field: 'header',
            expected: missing.join(', '),
            found: record.join(', '),
          });
          return { complete: false };
        }
        continue;
      }
      const at = (c: Column) => {
        const i = columns![c];
        return i === undefined ? undefined : (record[i] ?? '').trim();
      };
      const invoiceId = at('invoiceId')!;
      const country = at('country')!.toUpperCase();
      if (countries && !countries.has(country)) continue;
      if (!invoiceId) {
        yield unreadable(`line ${line} has no invoice id`, { field: 'invoiceId', found: record.join(', ') });
        continue;
      }
      const total = reportAmount(at('total')!);
      const taxText = at('tax');
      const tax = taxText === undefined || taxText === '' ? null : reportAmount(taxText);
      const bad = [
        ...(total === null ? [['total', at('total')] as const] : []),
        ...(taxText && tax === null ? [['tax', taxText] as const] : []),
      ];
      for (const [field, found] of bad) {
        yield unreadable(`line ${line}: ${field} is not a decimal amount`, { invoiceId, field, found });
      }
      if (total === null) continue;
      const row: StatementInvoice = {
        invoiceId,
        issuedOn: reportDate(at('issuedOn') ?? ''),
        country,
        currency: at('currency')!.toUpperCase(),
        total,
        tax,
      };
      const known = into.get(invoiceId);
      if (!known) {
        into.set(invoiceId, row);
        continue;
      }
      for (const field of ['total', 'tax', 'currency', 'country', 'issuedOn'] as const) {
        const same =
          field === 'total' || field === 'tax'
            ? sameAmount(known[field], row[field])
            : known[field] === row[field];
        if (same || known.inconsistent?.includes(field)) continue;
        known.inconsistent = [...(known.inconsistent ?? []), field];
        yield {
          code: 'report-inconsistent',
          scope,
          invoiceId,
          field,
          expected: known[field],
          found: row[field],
          message: `the billing statement's rows of the invoice disagree on its ${field} (line ${line})`,
        };
      }
    }
  } catch (err) {
    // A source that failed is not the report's fault: the reconcile message is tried again.
    if (source.errored) throw err;
    yield unreadable(`not a readable CSV: ${(err as Error).message}`);
    return { complete: false };
  } finally {
    source.destroy();
  }
  if (!columns) {
    yield unreadable('the file is empty (no header)');
    return { complete: false };
  }
  return { complete: true };
}
