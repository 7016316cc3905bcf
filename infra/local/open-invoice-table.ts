import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { LATEST_INVOICES, latestInvoicesQuery } from '../../shared/invoice/latest-invoices-query.ts';
import {
  DATA_COLUMNS,
  duckdbType,
  INVOICE_TABLE,
  PARTITION_COLUMNS,
  type TableColumn,
} from '../../shared/invoice/table-columns.ts';
import { reconciliationGlob, reconciliationViewsSql } from './reconciliation-views.ts';
import { ident, literal } from './sql-quote.ts';

/**
 * The `invoices` table over a mirror of the bucket (`npm start` writes ./out), in DuckDB: the same name,
 * columns and types as the Glue table Athena reads, and the `invoices_latest` view. A dev tool: nothing
 * under functions/ may import it (the Lambda bundles must not carry DuckDB).
 */

/** No mirror, or no month file in it: nothing to query. */
export class NoInvoicesError extends Error {
  override name = 'NoInvoicesError';
}

export interface QueryResult {
  columns: string[];
  /** DuckDB's type of each column, e.g. `DECIMAL(38,6)`, `DATE`. */
  types: string[];
  /** Rows as JSON values, in column order: DECIMAL and BIGINT as exact strings, dates as `YYYY-MM-DD`. */
  rows: unknown[][];
}

export interface InvoiceTable {
  query(sql: string): Promise<QueryResult>;
  close(): void;
}

/** The month files' layout under a mirror, as in the bucket (DESIGN.md "S3 layout"). */
export const monthFilesGlob = (out: string): string =>
  `${resolve(out)}/invoices/provider=*/issue_month=*/*.jsonl`;

/**
 * A timestamp is read as TIMESTAMPTZ so an offset other than Z is applied, then given as UTC without a zone:
 * what Athena's SerDe does with the same text (its TIMESTAMP has no zone either).
 */
const readType = (c: TableColumn): string => (c.type === 'timestamp' ? 'TIMESTAMPTZ' : duckdbType(c.type));
const selectOf = (c: TableColumn): string => {
  const value = c.type === 'timestamp' ? `timezone('UTC', ${ident(c.key!)})` : ident(c.key!);
  return `${value} AS ${ident(c.name)}`;
};

/** The `invoices` view: every month file under the mirror, typed column by column (no type is inferred). */
export function invoicesViewSql(out: string): string {
  const columns = DATA_COLUMNS.map((c) => `${ident(c.key!)}: ${literal(readType(c))}`).join(', ');
  const hiveTypes = PARTITION_COLUMNS.map((c) => `${literal(c.name)}: ${literal(duckdbType(c.type))}`);
  return [
    `CREATE VIEW ${INVOICE_TABLE} AS`,
    `SELECT ${[...DATA_COLUMNS.map(selectOf), ...PARTITION_COLUMNS.map((c) => ident(c.name))].join(', ')}`,
    `FROM read_json(${literal(monthFilesGlob(out))}, format = 'newline_delimited',`,
    // The path's provider=/issue_month= as text, as in Glue: autocast would turn 2026-01 into a date.
    `  hive_partitioning = true, hive_types = {${hiveTypes.join(', ')}}, hive_types_autocast = false,`,
    `  columns = {${columns}})`,
  ].join('\n');
}

/** Opens an in-memory DuckDB with both views over the mirror at `out`. */
export async function openInvoiceTable(out: string): Promise<InvoiceTable> {
  const dir = resolve(out);
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) {
    throw new NoInvoicesError(
      `no mirror at ${dir}: run npm start first (it mirrors the bucket there), or name one with --out <dir>`,
    );
  }
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const close = () => {
    connection.closeSync();
    instance.closeSync();
  };
  try {
    const found = await connection.runAndReadAll(
      `SELECT count(*) FROM glob(${literal(monthFilesGlob(dir))})`,
    );
    if (Number(found.getRows()[0]?.[0] ?? 0) === 0) {
      throw new NoInvoicesError(
        `no month files in ${dir} (invoices/provider=<provider>/issue_month=<yyyy-mm>/*.jsonl): run npm start, or name another mirror with --out <dir>`,
      );
    }
    await connection.run(invoicesViewSql(dir));
    await connection.run(`CREATE VIEW ${LATEST_INVOICES} AS\n${latestInvoicesQuery()}`);
    const reconciled = await connection.runAndReadAll(
      `SELECT count(*) FROM glob(${literal(reconciliationGlob(dir))})`,
    );
    for (const sql of reconciliationViewsSql(dir, Number(reconciled.getRows()[0]?.[0] ?? 0) > 0)) {
      await connection.run(sql);
    }
  } catch (err) {
    close();
    throw err;
  }
  return {
    async query(sql) {
      const reader = await connection.runAndReadAll(sql);
      return {
        columns: reader.columnNames(),
        types: reader.columnTypes().map(String),
        rows: reader.getRowsJson() as unknown[][],
      };
    },
    close,
  };
}
