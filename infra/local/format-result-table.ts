import type { QueryResult } from './open-invoice-table.ts';

/** Types whose values line up on the right, as figures do in a ledger. */
const NUMERIC = /^(DECIMAL|BIGINT|INTEGER|SMALLINT|TINYINT|HUGEINT|UBIGINT|UINTEGER|DOUBLE|FLOAT|REAL)/;

/** A value as one cell: text as is, nested values (structs, lists) as JSON, NULL spelled out. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * A query result as an aligned text table, the shape `npm start` prints its summary in: a header, a rule,
 * a line per row, and the row count.
 */
export function formatResultTable(result: QueryResult): string {
  const right = result.types.map((t) => NUMERIC.test(t));
  const cells = result.rows.map((row) => row.map(cell));
  const widths = result.columns.map((name, i) => Math.max(name.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (right[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const count = `(${result.rows.length} ${result.rows.length === 1 ? 'row' : 'rows'})`;
  return [line(result.columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line), count].join('\n');
}
