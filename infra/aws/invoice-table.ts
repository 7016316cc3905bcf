import { Stack } from 'aws-cdk-lib';
import {
  Database,
  DataFormat,
  DateIntervalUnit,
  PartitionProjectionConfiguration,
  S3Table,
  S3TableStorage,
  Schema,
} from 'aws-cdk-lib/aws-glue';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { PROVIDERS } from '../../shared/config/schema.ts';
import {
  DATA_COLUMNS,
  glueType,
  INVOICE_TABLE,
  PARTITION_COLUMNS,
  type TableColumn,
} from '../../shared/invoice/table-columns.ts';

/** Where the month files live in the bucket (DESIGN.md "S3 layout"). */
export const INVOICES_PREFIX = 'invoices/';

/**
 * The first issue month Athena projects. A query without an issue_month filter lists every projected month
 * of every provider, so the range is not left open back to 1970; a connection that backfills earlier (its
 * `backfillFrom`) moves it back (see `projectionStart`).
 */
export const PROJECTION_FLOOR = '2015-01';

/** The earliest issue month to project: the floor, or the earliest `backfillFrom` month in the config. */
export function projectionStart(backfillFrom: readonly (string | undefined)[]): string {
  const months = backfillFrom.filter((d): d is string => Boolean(d)).map((d) => d.slice(0, 7));
  return [PROJECTION_FLOOR, ...months].sort()[0]!;
}

/** `InvoiceIngest` -> `invoice_ingest`: Glue and Athena want lower-case names without dashes. */
export const databaseNameOf = (stackName: string): string =>
  stackName
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toLowerCase();

const glueColumn = (c: TableColumn) => ({
  name: c.name,
  type: Schema.custom(glueType(c.type), typeof c.type === 'string'),
});

export interface InvoiceTableProps {
  bucket: IBucket;
  /** The first issue month partition projection covers, `yyyy-MM`. */
  firstIssueMonth: string;
}

/**
 * The Glue database and the `invoices` table over the normalized month files, for Athena. Partitions are
 * projected from the key layout (provider=<id>/issue_month=<yyyy-mm>/), so no crawler runs and no
 * partition is ever registered: a month file is queryable the moment it lands.
 */
export class InvoiceTable extends Construct {
  readonly database: Database;
  readonly table: S3Table;

  constructor(scope: Construct, id: string, props: InvoiceTableProps) {
    super(scope, id);
    const { bucket, firstIssueMonth } = props;
    this.database = new Database(this, 'Database', {
      databaseName: databaseNameOf(Stack.of(this).stackName),
      description: 'invoice-ingest: normalized invoices (the month files under invoices/)',
    });
    this.table = new S3Table(this, 'Invoices', {
      database: this.database,
      tableName: INVOICE_TABLE,
      description:
        'One normalized invoice per line (shared/invoice/model.ts), one file per connection, scope and issue ' +
        'month; invoices_latest (a saved query in the workgroup) keeps the latest version of each.',
      storage: S3TableStorage.fromBucket(bucket),
      s3Prefix: INVOICES_PREFIX,
      // org.openx.data.jsonserde.JsonSerDe: matches camelCase keys to the lower-case columns, and reads
      // decimal strings exactly as DECIMAL.
      dataFormat: DataFormat.JSON,
      columns: DATA_COLUMNS.map(glueColumn),
      partitionKeys: PARTITION_COLUMNS.map(glueColumn),
      partitionProjection: {
        provider: PartitionProjectionConfiguration.enum({ values: [...PROVIDERS] }),
        issue_month: PartitionProjectionConfiguration.date({
          min: firstIssueMonth,
          // A month ahead of today (UTC): a provider a day ahead (Amazon Business JP) issues next month's
          // invoices while UTC is still in this one.
          max: 'NOW+1MONTH',
          format: 'yyyy-MM',
          step: { interval: 1, intervalUnit: DateIntervalUnit.MONTHS },
        }),
      },
      parameters: {
        // The layout Athena would assume anyway, written out so the table says where each partition is.
        'storage.location.template': `s3://${bucket.bucketName}/${INVOICES_PREFIX}provider=\${provider}/issue_month=\${issue_month}/`,
      },
      // The bucket is SSE-S3, which S3 decrypts itself; true would tell Athena the objects are client-side
      // (CSE-KMS) encrypted, and it would try to decrypt them.
      hasEncryptedData: false,
    });
  }
}
