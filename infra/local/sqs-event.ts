import type { Message, MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSMessageAttribute, SQSRecord, SQSRecordAttributes } from 'aws-lambda';

/** Builds the event the Lambda SQS trigger hands a function, from messages as ReceiveMessage returns them. */

const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

/** Lambda's shape: lower-case keys, binary as base64, the list fields always present. */
export function lambdaMessageAttribute(value: MessageAttributeValue): SQSMessageAttribute {
  const out: SQSMessageAttribute = {
    stringListValues: value.StringListValues ?? [],
    binaryListValues: (value.BinaryListValues ?? []).map(base64),
    dataType: value.DataType ?? 'String',
  };
  if (value.StringValue !== undefined) out.stringValue = value.StringValue;
  if (value.BinaryValue !== undefined) out.binaryValue = base64(value.BinaryValue);
  return out;
}

export function sqsRecord(message: Message, queueArn: string, region: string): SQSRecord {
  if (!message.MessageId || !message.ReceiptHandle)
    throw new Error('received an SQS message without id or handle');
  const attributes = { ...(message.Attributes ?? {}) } as unknown as SQSRecordAttributes;
  const record: SQSRecord = {
    messageId: message.MessageId,
    receiptHandle: message.ReceiptHandle,
    body: message.Body ?? '',
    attributes,
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
        name,
        lambdaMessageAttribute(value),
      ]),
    ),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
  if (message.MD5OfMessageAttributes) record.md5OfMessageAttributes = message.MD5OfMessageAttributes;
  return record;
}

export function sqsEvent(messages: readonly Message[], queueArn: string, region: string): SQSEvent {
  return { Records: messages.map((m) => sqsRecord(m, queueArn, region)) };
}

export type BatchVerdict = { ok: true; failed: string[] } | { ok: false; reason: string };

/**
 * Reads a handler's answer as the trigger does with ReportBatchItemFailures: nothing (or an empty list)
 * means every record succeeded; an identifier that is empty or not in the batch fails the whole batch.
 */
export function readBatchResponse(value: unknown, messageIds: readonly string[]): BatchVerdict {
  if (value === undefined || value === null || typeof value !== 'object') return { ok: true, failed: [] };
  const failures = (value as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return { ok: true, failed: [] };
  if (!Array.isArray(failures)) return { ok: false, reason: 'batchItemFailures is not a list' };
  const known = new Set(messageIds);
  const failed = new Set<string>();
  for (const f of failures) {
    const id = (f as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !known.has(id)) {
      return { ok: false, reason: `batchItemFailures names an unknown item ${JSON.stringify(id ?? null)}` };
    }
    failed.add(id);
  }
  return { ok: true, failed: [...failed] };
}
