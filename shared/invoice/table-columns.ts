import type { NormalizedInvoice } from './model.ts';

/**
 * The `invoices` table, one description for both engines that read the month files: the Glue table Athena
 * queries (infra/aws/invoice-table.ts) and the DuckDB view `npm run query` builds over ./out
 * (infra/local/open-invoice-table.ts). A column's type is written once here and rendered for each engine,
 * so the two cannot drift; test/unit/invoice/table-columns.test.ts holds the list to the model's keys.
 */

/** The table's name in Glue and in DuckDB. */
export const INVOICE_TABLE = 'invoices';

/**
 * DECIMAL(38,6) for money. Scale 6: money.ts keeps every digit a provider sends, and the most fraction
 * digits any provider's model gives is CM360's micros (6); Amazon Business amounts carry up to 4, Amazon
 * Ads and NF-e 2. A smaller scale would round real amounts; a longer fraction, should a provider ever send
 * one, would be rounded half up to 6 by both engines. Precision 38, the most both engines have: 32 integer
 * digits, where the simulators' own data has 17 (DECIMAL(18,2) overflows) and int64 micros stop at 13.
 */
export const MONEY_PRECISION = 38;
export const MONEY_SCALE = 6;

export type ColumnType =
  | 'string'
  | 'bigint'
  | 'date'
  | 'timestamp'
  | 'money'
  | { struct: ReadonlyArray<{ name: string; type: ColumnType }> }
  | { array: ColumnType };

export interface TableColumn {
  /**
   * The column's name in both engines: the line's key in lower case. Athena lower-cases every column name,
   * and its JSON SerDe matches keys case-insensitively, so `invoiceId` lands in `invoiceid`; SQL identifiers
   * are case-insensitive in both engines, so a query may still say `invoiceId`.
   */
  name: string;
  /** The key in a month file's line; none for a column that comes from the file's path only. */
  key?: keyof NormalizedInvoice;
  type: ColumnType;
}

const column = (key: keyof NormalizedInvoice, type: ColumnType): TableColumn => ({
  name: key.toLowerCase(),
  key,
  type,
});

/** Read from each line, in the model's order. `provider` is not among them: it is a partition key. */
export const DATA_COLUMNS: readonly TableColumn[] = [
  column('connection', 'string'),
  column('account', 'string'),
  column('invoiceId', 'string'),
  column('invoiceNumber', 'string'),
  column('kind', 'string'),
  column('status', 'string'),
  column('issuedOn', 'date'),
  column('dueOn', 'date'),
  column('servicePeriod', {
    struct: [
      { name: 'from', type: 'date' },
      { name: 'to', type: 'date' },
    ],
  }),
  column('currency', 'string'),
  column('subtotal', 'money'),
  column('tax', 'money'),
  column('total', 'money'),
  column('amountDue', 'money'),
  column('remainingDue', 'money'),
  column('purchaseOrderNumber', 'string'),
  column('correctsInvoiceId', 'string'),
  column('replacesInvoiceIds', { array: 'string' }),
  column('documents', {
    array: {
      struct: [
        { name: 'type', type: 'string' },
        { name: 'key', type: 'string' },
        { name: 'sha256', type: 'string' },
        { name: 'bytes', type: 'bigint' },
      ],
    },
  }),
  column('rawKey', 'string'),
  // Every writer stamps toISOString() (UTC, milliseconds), which Athena's SerDe reads as a timestamp as is.
  column('fetchedAt', 'timestamp'),
];

/**
 * The path's `provider=<provider>/issue_month=<yyyy-mm>`, after the data columns as Athena lists them.
 * `provider` is also in every line (with the same value); a Glue table cannot have a column and a partition
 * key of one name, so it is read from the path.
 */
export const PARTITION_COLUMNS: readonly TableColumn[] = [
  { name: 'provider', key: 'provider', type: 'string' },
  { name: 'issue_month', type: 'string' },
];

/** Every column in the order both engines show them. */
export const INVOICE_COLUMNS: readonly TableColumn[] = [...DATA_COLUMNS, ...PARTITION_COLUMNS];

/** The type as Glue and Athena's DDL write it, e.g. `array<struct<type:string,bytes:bigint>>`. */
export function glueType(type: ColumnType): string {
  if (typeof type === 'string') {
    return type === 'money' ? `decimal(${MONEY_PRECISION},${MONEY_SCALE})` : type;
  }
  if ('array' in type) return `array<${glueType(type.array)}>`;
  return `struct<${type.struct.map((f) => `${f.name}:${glueType(f.type)}`).join(',')}>`;
}

const DUCKDB_SCALAR: Record<Exclude<ColumnType, object>, string> = {
  string: 'VARCHAR',
  bigint: 'BIGINT',
  date: 'DATE',
  timestamp: 'TIMESTAMP',
  money: `DECIMAL(${MONEY_PRECISION},${MONEY_SCALE})`,
};

/** The same type in DuckDB, e.g. `STRUCT("type" VARCHAR, "bytes" BIGINT)[]`. */
export function duckdbType(type: ColumnType): string {
  if (typeof type === 'string') return DUCKDB_SCALAR[type];
  if ('array' in type) return `${duckdbType(type.array)}[]`;
  return `STRUCT(${type.struct.map((f) => `"${f.name}" ${duckdbType(f.type)}`).join(', ')})`;
}
