import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { CfnNamedQuery, CfnWorkGroup } from 'aws-cdk-lib/aws-athena';
import { ManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type IBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { LATEST_INVOICES, latestInvoicesQuery } from '../../shared/invoice/latest-invoices-query.ts';
import { READY_ANSWERS } from '../../shared/invoice/ready-answers.ts';
import { INVOICE_TABLE } from '../../shared/invoice/table-columns.ts';
import { INVOICES_PREFIX, type InvoiceTable } from './invoice-table.ts';
import { acknowledge, wildcardResourceFinding } from './nag.ts';

/** Where Athena writes query results in the results bucket. */
export const RESULTS_PREFIX = 'athena/';

/**
 * A query that would read more than this fails. The month files are about 1 KB an invoice, so the whole
 * table is megabytes for years of invoices; a gigabyte is a runaway query (or another table), stopped at
 * about half a cent.
 */
export const BYTES_SCANNED_CUTOFF = 1024 ** 3;

/** Query results are kept for a re-download, not as records: the table is the record. */
const RESULTS_DAYS = 30;

/** `InvoiceIngest` -> `invoice-ingest`: the workgroup and the analyst policy are named after the stack. */
export const kebabNameOf = (stackName: string): string =>
  stackName
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .toLowerCase();

export interface InvoiceQueriesProps {
  invoices: InvoiceTable;
  /** The invoice bucket, holding the table's month files under invoices/. */
  bucket: IBucket;
  /** Server access logs of the results bucket go there, as the invoice bucket's do. */
  accessLogs: IBucket;
}

/**
 * Athena over the `invoices` table: a workgroup whose settings every query must use (results encrypted in
 * their own bucket, a cap on bytes scanned, engine version 3), the latest-version query and the ready answers
 * saved in it (the same SQL `npm run query` runs), and a managed policy for analysts that reads the table
 * and nothing else of the bucket.
 */
export class InvoiceQueries extends Construct {
  readonly workGroup: CfnWorkGroup;
  readonly results: Bucket;
  readonly analystPolicy: ManagedPolicy;

  constructor(scope: Construct, id: string, props: InvoiceQueriesProps) {
    super(scope, id);
    const { invoices, accessLogs } = props;
    const name = kebabNameOf(Stack.of(this).stackName);

    // Its own bucket: results in the invoice bucket would be announced to drop consumers as Object Created
    // events and kept as versions for 90 days.
    this.results = new Bucket(this, 'Results', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        { expiration: Duration.days(RESULTS_DAYS), abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'query-results/',
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.workGroup = new CfnWorkGroup(this, 'WorkGroup', {
      name,
      description: 'invoice-ingest: queries over the invoices table',
      state: 'ENABLED',
      // The saved queries belong to the stack; deleting the stack may take them and the query history.
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        // A client's own result location or encryption is ignored: every result lands encrypted, here.
        enforceWorkGroupConfiguration: true,
        bytesScannedCutoffPerQuery: BYTES_SCANNED_CUTOFF,
        publishCloudWatchMetricsEnabled: true,
        // The table's types (exact DECIMAL from strings, ISO timestamps) are read as engine 3's SerDe does.
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: this.results.s3UrlForObject(RESULTS_PREFIX),
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
          expectedBucketOwner: Aws.ACCOUNT_ID,
        },
      },
    });

    const database = invoices.database.databaseName;
    const saved = [
      {
        name: LATEST_INVOICES,
        description: 'One row per invoice: its latest version (greatest fetchedAt)',
        sql: latestInvoicesQuery(),
      },
      ...READY_ANSWERS.map((a) => ({ name: a.name, description: a.title, sql: a.sql('athena') })),
    ];
    for (const query of saved) {
      const named = new CfnNamedQuery(this, `Query-${query.name}`, {
        name: query.name,
        description: query.description,
        database,
        queryString: query.sql,
        workGroup: this.workGroup.ref,
      });
      named.node.addDependency(this.workGroup);
    }

    this.analystPolicy = new ManagedPolicy(this, 'AnalystPolicy', {
      managedPolicyName: `${name}-analyst`,
      description: `Query the ${INVOICE_TABLE} table through the ${name} Athena workgroup`,
      statements: this.analystStatements(props),
    });
    this.acknowledgeWildcards(props);
  }

  private analystStatements({ invoices, bucket }: InvoiceQueriesProps): PolicyStatement[] {
    const workGroupArn = Stack.of(this).formatArn({
      service: 'athena',
      resource: 'workgroup',
      resourceName: this.workGroup.name,
    });
    const catalogArn = Stack.of(this).formatArn({ service: 'glue', resource: 'catalog' });
    return [
      new PolicyStatement({
        actions: [
          'athena:StartQueryExecution',
          'athena:StopQueryExecution',
          'athena:GetQueryExecution',
          'athena:GetQueryResults',
          'athena:GetQueryResultsStream',
          'athena:GetQueryRuntimeStatistics',
          'athena:BatchGetQueryExecution',
          'athena:ListQueryExecutions',
          'athena:GetWorkGroup',
          'athena:GetNamedQuery',
          'athena:BatchGetNamedQuery',
          'athena:ListNamedQueries',
        ],
        resources: [workGroupArn],
      }),
      // Glue authorizes a table read against the catalog, the database and the table together.
      new PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartition', 'glue:GetPartitions'],
        resources: [catalogArn, invoices.database.databaseArn, invoices.table.tableArn],
      }),
      // Athena reads the month files and writes results with the analyst's own credentials.
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [bucket.arnForObjects(`${INVOICES_PREFIX}*`)],
      }),
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${INVOICES_PREFIX}*`] } },
      }),
      new PolicyStatement({
        actions: ['s3:GetBucketLocation'],
        resources: [bucket.bucketArn, this.results.bucketArn],
      }),
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        resources: [this.results.arnForObjects(`${RESULTS_PREFIX}*`)],
      }),
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.results.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${RESULTS_PREFIX}*`] } },
      }),
      // Takes no s3:prefix (the condition would deny it); the results bucket holds nothing else.
      new PolicyStatement({
        actions: ['s3:ListBucketMultipartUploads'],
        resources: [this.results.bucketArn],
      }),
    ];
  }

  private acknowledgeWildcards({ bucket }: InvoiceQueriesProps): void {
    acknowledge(
      this.analystPolicy,
      'IAM5',
      'Athena reads every month file of the table (keys by provider, month, connection and scope, known ' +
        `only at query time) and writes each result under a new key; the wildcards stop at ${INVOICES_PREFIX} ` +
        `in the invoice bucket and ${RESULTS_PREFIX} in the results bucket.`,
      [
        wildcardResourceFinding(this.analystPolicy, bucket.arnForObjects(`${INVOICES_PREFIX}*`)),
        wildcardResourceFinding(this.analystPolicy, this.results.arnForObjects(`${RESULTS_PREFIX}*`)),
      ],
    );
  }
}
