import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { S3Event, S3EventRecord } from 'aws-lambda';

/**
 * In AWS the bucket sends "Object Created" events to EventBridge, whose rules feed the drop consumers.
 * s3rver emits S3 notification records instead; this turns each created object into the EventBridge event
 * AWS would deliver, and hands it to a local consumer.
 */

export interface ObjectCreatedEvent {
  version: '0';
  id: string;
  'detail-type': 'Object Created';
  source: 'aws.s3';
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: {
    version: '0';
    bucket: { name: string };
    object: { key: string; size: number; etag: string; sequencer: string };
    'request-id': string;
    requester: string;
    'source-ip-address': string;
    reason: 'PutObject' | 'CopyObject' | 'CompleteMultipartUpload';
  };
}

// s3rver reports a multipart completion as ObjectCreated:Post, and the SDK uploads by POST only that way.
const REASONS: Record<string, ObjectCreatedEvent['detail']['reason']> = {
  'ObjectCreated:Put': 'PutObject',
  'ObjectCreated:Copy': 'CopyObject',
  'ObjectCreated:Post': 'CompleteMultipartUpload',
  'ObjectCreated:CompleteMultipartUpload': 'CompleteMultipartUpload',
};

/** The EventBridge event for one S3 notification record, or undefined when it is not a creation. */
export function objectCreatedEvent(
  record: S3EventRecord,
  where: { account: string; region: string },
): ObjectCreatedEvent | undefined {
  const reason = REASONS[record.eventName];
  if (!reason) return undefined;
  const bucket = record.s3.bucket.name;
  const object = record.s3.object;
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: where.account,
    time: record.eventTime.replace(/\.\d{3}Z$/, 'Z'),
    region: where.region,
    resources: [`arn:aws:s3:::${bucket}`],
    detail: {
      version: '0',
      bucket: { name: bucket },
      // s3rver puts the key in its records as stored (S3 would URL-encode it there); EventBridge carries it plain.
      object: {
        key: object.key,
        size: Number(object.size ?? 0),
        etag: object.eTag ?? '',
        sequencer: object.sequencer,
      },
      'request-id': record.responseElements?.['x-amz-request-id'] ?? '',
      requester: where.account,
      'source-ip-address': record.requestParameters?.sourceIPAddress ?? '127.0.0.1',
      reason,
    },
  };
}

/** Forwards every created object to `deliver`; returns the function that stops forwarding. */
export function forwardS3Notifications(
  s3Events: EventEmitter,
  deliver: (event: ObjectCreatedEvent) => void,
  where: { account: string; region: string },
): () => void {
  const listener = (notification: S3Event) => {
    for (const record of notification.Records ?? []) {
      const event = objectCreatedEvent(record, where);
      if (event) deliver(event);
    }
  };
  s3Events.on('event', listener);
  return () => s3Events.off('event', listener);
}
