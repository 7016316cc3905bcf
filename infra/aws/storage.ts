import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type CfnBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { STATE_TABLE } from '../../shared/aws/resources.ts';

/** Old versions of what the providers sent are kept this long, so an overwrite can be undone. */
const NONCURRENT_VERSION_DAYS = 90;
/** Prefixes whose objects are the providers' own bytes (payloads, documents, reports, export ZIPs). */
export const SOURCE_PREFIXES = ['raw/', 'documents/', 'reports/', 'exports/'] as const;
/**
 * Month files are derived: rewritten from the invoice table on each run that changes them, so their old
 * versions are only a short undo, not a record (the table and raw/ are). A reconciliation file is written
 * once per run; an old version exists only if its message was worked twice.
 */
export const DERIVED_PREFIXES = ['invoices/', 'reconciliation/'] as const;
const DERIVED_NONCURRENT_DAYS = 3;
/** Server access logs are audit material; a year covers a yearly review. */
const ACCESS_LOG_DAYS = 365;

/** The invoice bucket (with its access-log bucket) and the state table. */
export class Storage extends Construct {
  readonly bucket: Bucket;
  readonly accessLogs: Bucket;
  readonly table: Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    // Access-log delivery only writes to SSE-S3 buckets, so this one cannot use KMS.
    this.accessLogs = new Bucket(this, 'AccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(ACCESS_LOG_DAYS) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.bucket = new Bucket(this, 'Invoices', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      lifecycleRules: [
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        ...SOURCE_PREFIXES.map((prefix) => ({
          id: `keep-old-${prefix.slice(0, -1)}`,
          prefix,
          noncurrentVersionExpiration: Duration.days(NONCURRENT_VERSION_DAYS),
        })),
        ...DERIVED_PREFIXES.map((prefix) => ({
          id: `expire-old-${prefix.slice(0, -1)}`,
          prefix,
          noncurrentVersionExpiration: Duration.days(DERIVED_NONCURRENT_DAYS),
        })),
      ],
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'invoices/',
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Drop consumers subscribe to "Object Created" events on the default bus. Set on the CloudFormation
    // resource itself: the L2's eventBridgeEnabled adds a custom-resource Lambda just to flip this switch.
    (this.bucket.node.defaultChild as CfnBucket).notificationConfiguration = {
      eventBridgeConfiguration: { eventBridgeEnabled: true },
    };

    this.table = new Table(this, 'State', {
      partitionKey: { name: STATE_TABLE.partitionKey, type: AttributeType.STRING },
      sortKey: { name: STATE_TABLE.sortKey, type: AttributeType.STRING },
      timeToLiveAttribute: STATE_TABLE.ttlAttribute,
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
