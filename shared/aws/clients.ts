import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * One client of each kind per container. Endpoints come from the SDK's own AWS_ENDPOINT_URL_* settings,
 * so the local stack reaches its stand-ins with the same code that runs in Lambda.
 */

let s3: S3Client | undefined;
let sqs: SQSClient | undefined;
let ddb: DynamoDBDocumentClient | undefined;

export function s3Client(): S3Client {
  if (!s3) {
    const local = Boolean(process.env.AWS_ENDPOINT_URL_S3);
    s3 = new S3Client(
      local
        ? {
            // s3rver serves path-style only, and stores aws-chunked framing verbatim unless checksums are off.
            forcePathStyle: true,
            requestChecksumCalculation: 'WHEN_REQUIRED',
            responseChecksumValidation: 'WHEN_REQUIRED',
          }
        : {},
    );
  }
  return s3;
}

export function sqsClient(): SQSClient {
  sqs ??= new SQSClient({});
  return sqs;
}

export function dynamoClient(): DynamoDBDocumentClient {
  ddb ??= DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return ddb;
}

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}
