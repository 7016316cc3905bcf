import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iamNeedsOf } from './iam-needs.ts';
import { sdkImportsOf } from './sdk-imports.ts';

// The stack test checks each role against the SDK calls found here; these keep the finding honest.

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sdk-imports-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, lines: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, lines.join('\n'));
  return file;
}

describe('sdkImportsOf', () => {
  it('follows local imports, sees through renamed imports and skips code the bundle drops', async () => {
    write('store.ts', [
      "import { DeleteCommand, type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';",
      "import { PutObjectCommand } from '@aws-sdk/client-s3';",
      "export const put = (c: DynamoDBDocumentClient) => c.send(new PutCommand({ TableName: 't', Item: {} }));",
      "export const del = (c: DynamoDBDocumentClient) => c.send(new DeleteCommand({ TableName: 't', Key: {} }));",
      "export const unused = () => new PutObjectCommand({ Bucket: 'b', Key: 'k' });",
    ]);
    const entry = write('handler.ts', [
      "import { del, put } from './store.ts';",
      "import { SendMessageCommand as Send } from '@aws-sdk/client-sqs';",
      'const PutCommand = 1;',
      "export const handler = (c: never) => [put(c), del(c), new Send({ QueueUrl: 'q' }), PutCommand];",
    ]);
    expect(await sdkImportsOf(entry)).toEqual([
      { module: '@aws-sdk/client-sqs', name: 'SendMessageCommand' },
      { module: '@aws-sdk/lib-dynamodb', name: 'DeleteCommand' },
      { module: '@aws-sdk/lib-dynamodb', name: 'PutCommand' },
    ]);
  });

  it('refuses a module imported whole, whose calls it cannot see', async () => {
    const entry = write('whole.ts', [
      "import * as s3 from '@aws-sdk/client-s3';",
      "export const handler = () => new s3.PutObjectCommand({ Bucket: 'b', Key: 'k' });",
    ]);
    await expect(sdkImportsOf(entry)).rejects.toThrow(/imports an AWS SDK module whole/);
  });
});

describe('iamNeedsOf', () => {
  it('maps commands, paginators and Upload to IAM actions, and clients and errors to none', async () => {
    expect(await iamNeedsOf({ module: '@aws-sdk/lib-dynamodb', name: 'DeleteCommand' })).toEqual([
      { action: 'dynamodb:DeleteItem', on: 'table' },
    ]);
    expect(await iamNeedsOf({ module: '@aws-sdk/client-sqs', name: 'SendMessageBatchCommand' })).toEqual([
      { action: 'sqs:SendMessage', on: 'queue' },
    ]);
    expect(await iamNeedsOf({ module: '@aws-sdk/client-s3', name: 'paginateListObjectsV2' })).toEqual([
      { action: 's3:ListBucket', on: 'bucket' },
    ]);
    expect(await iamNeedsOf({ module: '@aws-sdk/lib-storage', name: 'Upload' })).toEqual([
      { action: 's3:PutObject', on: 'object' },
      { action: 's3:AbortMultipartUpload', on: 'object' },
    ]);
    expect(await iamNeedsOf({ module: '@aws-sdk/client-s3', name: 'S3Client' })).toEqual([]);
    expect(
      await iamNeedsOf({ module: '@aws-sdk/client-dynamodb', name: 'ConditionalCheckFailedException' }),
    ).toEqual([]);
  });

  it('refuses a command it has no mapping for, and an aggregated client', async () => {
    await expect(
      iamNeedsOf({ module: '@aws-sdk/lib-dynamodb', name: 'TransactWriteCommand' }),
    ).rejects.toThrow(/no IAM actions known for TransactWriteCommand/);
    await expect(iamNeedsOf({ module: '@aws-sdk/client-s3', name: 'S3' })).rejects.toThrow(
      /aggregated client/,
    );
  });
});
