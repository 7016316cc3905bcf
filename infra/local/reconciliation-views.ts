import { resolve } from 'node:path';
import { ident, literal } from './sql-quote.ts';

/**
 * The control totals as two tables beside `invoices` (README "Control totals"): `reconciliation_gaps`, one row
 * per gap, and `reconciliations`, one row per run and connection with its counts (its totals by currency
 * and status as JSON). Read from the reconciliation files of a mirror; empty when there are none yet.
 */
export const reconciliationGlob = (out: string): string =>
  `${resolve(out)}/reconciliation/provider=*/connection=*/*.jsonl`;

const GAP_COLUMNS = {
  runId: 'VARCHAR',
  provider: 'VARCHAR',
  connection: 'VARCHAR',
  scope: 'VARCHAR',
  code: 'VARCHAR',
  invoiceId: 'VARCHAR',
  field: 'VARCHAR',
  expected: 'VARCHAR',
  found: 'VARCHAR',
  message: 'VARCHAR',
} as const;

const SUMMARY_COLUMNS = {
  runId: 'VARCHAR',
  provider: 'VARCHAR',
  connection: 'VARCHAR',
  reconciledAt: 'TIMESTAMPTZ',
  invoices: 'BIGINT',
  gaps: 'BIGINT',
  documentsMissing: 'BIGINT',
  gapsByCode: 'JSON',
  totals: 'JSON',
  key: 'VARCHAR',
} as const;

const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function view(
  name: string,
  record: 'gap' | 'summary',
  columns: Record<string, string>,
  files: boolean,
  out: string,
) {
  const select = Object.keys(columns)
    .map((k) => `${ident(k)} AS ${snake(k)}`)
    .join(', ');
  if (!files) {
    const empty = Object.entries(columns)
      .map(([k, t]) => `CAST(NULL AS ${t}) AS ${snake(k)}`)
      .join(', ');
    return `CREATE VIEW ${name} AS SELECT ${empty} WHERE false`;
  }
  const typed = Object.entries({ record: 'VARCHAR', ...columns })
    .map(([k, t]) => `${ident(k)}: ${literal(t)}`)
    .join(', ');
  return [
    `CREATE VIEW ${name} AS SELECT ${select}`,
    `FROM read_json(${literal(reconciliationGlob(out))}, format = 'newline_delimited', columns = {${typed}})`,
    `WHERE record = ${literal(record)}`,
  ].join('\n');
}

export function reconciliationViewsSql(out: string, files: boolean): string[] {
  return [
    view('reconciliation_gaps', 'gap', GAP_COLUMNS, files, out),
    view('reconciliations', 'summary', SUMMARY_COLUMNS, files, out),
  ];
}
