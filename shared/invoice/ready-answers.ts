import type { ProviderId } from '../config/schema.ts';
import { LATEST_INVOICES, latestInvoicesQuery } from './latest-invoices-query.ts';

/** The two engines that read the `invoices` table. */
export type SqlDialect = 'athena' | 'duckdb';

export interface ReadyAnswer {
  /** Short id: the Athena saved query's name and the key of `npm run query --json`. */
  name: string;
  title: string;
  sql: (dialect: SqlDialect) => string;
}

/**
 * Providers whose invoices come with a document (Amazon Ads and CM360 a PDF, SP-API the NF-e XML from an
 * export). Amazon Business invoices land without one (its normalizer copies no document), so they would
 * all count as missing.
 */
export const PROVIDERS_WITH_DOCUMENTS: readonly ProviderId[] = ['amazon-ads', 'cm360', 'sp-api'];

/** The latest-version query as a CTE, so an answer runs as one statement where no view exists (Athena). */
const fromLatest = (select: string): string =>
  `WITH ${LATEST_INVOICES} AS (\n${latestInvoicesQuery()}\n)\n${select}`;

/** Trino counts an array's elements with cardinality(), which DuckDB keeps for maps; DuckDB's is len(). */
const arrayLength = (dialect: SqlDialect, column: string): string =>
  dialect === 'athena' ? `cardinality(${column})` : `len(${column})`;

/**
 * What `npm run query` answers with no SQL given, and the workgroup's saved queries on AWS: the same SQL on
 * both engines, over the latest version of each invoice.
 */
export const READY_ANSWERS: readonly ReadyAnswer[] = [
  {
    name: 'totals',
    title: 'Totals by provider, currency and issue month (credit notes count negative)',
    sql: () =>
      fromLatest(
        [
          'SELECT provider, currency, issue_month, count(*) AS invoices,',
          "  count_if(kind = 'CREDIT_NOTE') AS credit_notes, sum(subtotal) AS subtotal, sum(tax) AS tax,",
          '  sum(total) AS total',
          `FROM ${LATEST_INVOICES}`,
          'GROUP BY provider, currency, issue_month',
          'ORDER BY provider, currency, issue_month',
        ].join('\n'),
      ),
  },
  {
    name: 'still-due',
    title: 'Amounts still due (remainingDue, else amountDue, above zero)',
    sql: () =>
      fromLatest(
        [
          'SELECT provider, connection, currency, count(*) AS invoices,',
          '  sum(coalesce(remainingdue, amountdue)) AS still_due, min(dueon) AS first_due_on,',
          '  max(dueon) AS last_due_on',
          `FROM ${LATEST_INVOICES}`,
          'WHERE coalesce(remainingdue, amountdue) > 0',
          'GROUP BY provider, connection, currency',
          'ORDER BY provider, connection, currency',
        ].join('\n'),
      ),
  },
  {
    name: 'missing-documents',
    title: `Invoices without a document, where the provider sends one (${PROVIDERS_WITH_DOCUMENTS.join(', ')})`,
    sql: (dialect) =>
      fromLatest(
        [
          'SELECT provider, connection, count(*) AS invoices,',
          `  count_if(${arrayLength(dialect, 'documents')} = 0) AS without_document`,
          `FROM ${LATEST_INVOICES}`,
          `WHERE provider IN (${PROVIDERS_WITH_DOCUMENTS.map((p) => `'${p}'`).join(', ')})`,
          'GROUP BY provider, connection',
          'ORDER BY provider, connection',
        ].join('\n'),
      ),
  },
];
