import type { SdkImport } from './sdk-imports.ts';

/** The kind of resource an SDK call acts on, for finding its ARN in the template. */
export type ResourceKind = 'table' | 'object' | 'bucket' | 'queue' | 'secret';

export interface IamNeed {
  action: string;
  on: ResourceKind;
}

const onObject = (...actions: string[]): IamNeed[] => actions.map((action) => ({ action, on: 'object' }));
const onTable = (action: string): IamNeed[] => [{ action: `dynamodb:${action}`, on: 'table' }];
const onQueue = (action: string): IamNeed[] => [{ action: `sqs:${action}`, on: 'queue' }];
const onSecret = (action: string): IamNeed[] => [{ action: `secretsmanager:${action}`, on: 'secret' }];
/** S3 answers a missing key with 404 (not 403) only to a caller that may list it; the sink relies on the 404. */
const readObject: IamNeed[] = [...onObject('s3:GetObject'), { action: 's3:ListBucket', on: 'bucket' }];
const multipart = onObject('s3:PutObject', 's3:AbortMultipartUpload');

/**
 * The IAM actions each SDK command needs (Service Authorization Reference). Several commands share an action:
 * the multipart steps are authorized as s3:PutObject, batches as their single form. TransactWriteItems and
 * the like are missing on purpose: IAM checks the action of each item, which only the calling code knows.
 */
const COMMANDS: Record<string, Record<string, IamNeed[]>> = {
  '@aws-sdk/client-s3': {
    PutObjectCommand: onObject('s3:PutObject'),
    GetObjectCommand: readObject,
    HeadObjectCommand: readObject,
    CopyObjectCommand: onObject('s3:PutObject', 's3:GetObject'),
    CreateMultipartUploadCommand: onObject('s3:PutObject'),
    UploadPartCommand: onObject('s3:PutObject'),
    UploadPartCopyCommand: onObject('s3:PutObject', 's3:GetObject'),
    CompleteMultipartUploadCommand: onObject('s3:PutObject'),
    AbortMultipartUploadCommand: onObject('s3:AbortMultipartUpload'),
    ListPartsCommand: onObject('s3:ListMultipartUploadParts'),
    DeleteObjectCommand: onObject('s3:DeleteObject'),
    DeleteObjectsCommand: onObject('s3:DeleteObject'),
    ListObjectsV2Command: [{ action: 's3:ListBucket', on: 'bucket' }],
  },
  '@aws-sdk/lib-storage': { Upload: multipart },
  '@aws-sdk/client-dynamodb': {
    GetItemCommand: onTable('GetItem'),
    PutItemCommand: onTable('PutItem'),
    UpdateItemCommand: onTable('UpdateItem'),
    DeleteItemCommand: onTable('DeleteItem'),
    QueryCommand: onTable('Query'),
    ScanCommand: onTable('Scan'),
    BatchGetItemCommand: onTable('BatchGetItem'),
    BatchWriteItemCommand: onTable('BatchWriteItem'),
  },
  '@aws-sdk/lib-dynamodb': {
    GetCommand: onTable('GetItem'),
    PutCommand: onTable('PutItem'),
    UpdateCommand: onTable('UpdateItem'),
    DeleteCommand: onTable('DeleteItem'),
    QueryCommand: onTable('Query'),
    ScanCommand: onTable('Scan'),
    BatchGetCommand: onTable('BatchGetItem'),
    BatchWriteCommand: onTable('BatchWriteItem'),
  },
  '@aws-sdk/client-sqs': {
    SendMessageCommand: onQueue('SendMessage'),
    SendMessageBatchCommand: onQueue('SendMessage'),
    ReceiveMessageCommand: onQueue('ReceiveMessage'),
    DeleteMessageCommand: onQueue('DeleteMessage'),
    DeleteMessageBatchCommand: onQueue('DeleteMessage'),
    ChangeMessageVisibilityCommand: onQueue('ChangeMessageVisibility'),
    ChangeMessageVisibilityBatchCommand: onQueue('ChangeMessageVisibility'),
    GetQueueAttributesCommand: onQueue('GetQueueAttributes'),
    GetQueueUrlCommand: onQueue('GetQueueUrl'),
  },
  '@aws-sdk/client-secrets-manager': {
    GetSecretValueCommand: onSecret('GetSecretValue'),
    DescribeSecretCommand: onSecret('DescribeSecret'),
    PutSecretValueCommand: onSecret('PutSecretValue'),
  },
};

/**
 * What an SDK import means for IAM: the actions it needs (a command, a paginator, lib-storage's Upload), none
 * (clients, errors, enums, helpers), or an error when the test cannot tell, so a new call is mapped by a person
 * rather than passed unchecked.
 */
export async function iamNeedsOf(imp: SdkImport): Promise<IamNeed[]> {
  const command = imp.name.startsWith('paginate') ? `${imp.name.slice('paginate'.length)}Command` : imp.name;
  const known = COMMANDS[imp.module]?.[command];
  if (known) return known;
  if (command.endsWith('Command') || (imp.module === '@aws-sdk/lib-storage' && /^[A-Z]/.test(imp.name))) {
    throw new Error(
      `no IAM actions known for ${imp.name} from ${imp.module}: add them to test/infra/iam-needs.ts`,
    );
  }
  // An aggregated client (S3, SQS, DynamoDBDocument) has a method per operation, invisible in the imports.
  const exports = (await import(imp.module)) as Record<string, unknown>;
  if (typeof exports[`${imp.name}Client`] === 'function') {
    throw new Error(
      `${imp.name} from ${imp.module} is an aggregated client: send commands instead, so IAM can be checked`,
    );
  }
  return [];
}
