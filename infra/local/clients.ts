import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';

/**
 * The local stack's own SDK clients (main thread), configured explicitly from the stand-ins' env rather than
 * from process.env, so the runner process never points its own environment at the stand-ins.
 */

type StandinEnv = Record<string, string>;

function common(env: StandinEnv) {
  const need = (name: string): string => {
    const v = env[name];
    if (!v) throw new Error(`local stand-in setting ${name} is missing`);
    return v;
  };
  return {
    need,
    base: {
      region: need('AWS_REGION'),
      credentials: { accessKeyId: need('AWS_ACCESS_KEY_ID'), secretAccessKey: need('AWS_SECRET_ACCESS_KEY') },
    },
  };
}

export function localS3Client(env: StandinEnv): S3Client {
  const { need, base } = common(env);
  return new S3Client({
    ...base,
    endpoint: need('AWS_ENDPOINT_URL_S3'),
    // s3rver serves path-style only, and stores aws-chunked framing verbatim unless checksums are off.
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export function localSqsClient(env: StandinEnv): SQSClient {
  const { need, base } = common(env);
  return new SQSClient({ ...base, endpoint: need('AWS_ENDPOINT_URL_SQS') });
}

export function localDynamoClient(env: StandinEnv): DynamoDBClient {
  const { need, base } = common(env);
  return new DynamoDBClient({ ...base, endpoint: need('AWS_ENDPOINT_URL_DYNAMODB') });
}
