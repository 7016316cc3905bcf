import { INVOICE_COLUMNS, INVOICE_TABLE } from './table-columns.ts';

/** The name the latest-version query goes by: a view locally, a saved query in the Athena workgroup. */
export const LATEST_INVOICES = 'invoices_latest';

/**
 * One row per invoice, its latest version: the greatest fetchedAt among the rows of one provider,
 * connection, account and invoiceId. A month file holds each invoice once, and an invoice whose issue month
 * changed leaves its old month's file; but the two files are separate objects written one after the other,
 * so for a while (or after a write that failed) the table can hold both versions.
 * Plain SQL that Athena (Trino) and DuckDB both run; the columns are listed so the rank does not show.
 */
export function latestInvoicesQuery(): string {
  const columns = INVOICE_COLUMNS.map((c) => c.name).join(', ');
  return [
    `SELECT ${columns}`,
    'FROM (',
    '  SELECT *, row_number() OVER (',
    '    PARTITION BY provider, connection, account, invoiceid',
    // issue_month breaks a tie (one fetch stamped both copies), so every run picks the same row.
    '    ORDER BY fetchedat DESC, issue_month DESC',
    '  ) AS latest_rank',
    `  FROM ${INVOICE_TABLE}`,
    ') AS versions',
    'WHERE latest_rank = 1',
  ].join('\n');
}
