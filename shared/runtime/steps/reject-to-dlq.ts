import type { SQSRecord } from 'aws-lambda';
import type { JobMessage } from '../../jobs/messages.ts';
import { moveToDlq } from '../../jobs/queue.ts';
import type { FrameDeps } from './frame-deps.ts';

/** Best effort: an invalid message may still say which run it belongs to. */
export function safeRunId(body: string): string | undefined {
  try {
    const v = JSON.parse(body) as { runId?: unknown };
    return typeof v.runId === 'string' && v.runId.length <= 100 ? v.runId : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A message that can never succeed goes to its queue's DLQ at once, with the reason as a message
 * attribute; its run records the failure and takes the message off its pending count.
 */
export async function rejectToDlq(
  deps: FrameDeps,
  record: SQSRecord,
  message: JobMessage | undefined,
  reason: string,
  settle: () => Promise<void>,
): Promise<void> {
  deps.logger.error('message moved to the DLQ', { reason });
  if (!deps.env.dlqUrl) throw new Error(`no DLQ configured for ${deps.env.ownQueue}: ${reason}`);
  await moveToDlq(deps.sqs, deps.env.dlqUrl, record.body, reason);
  const runId = message?.runId ?? safeRunId(record.body);
  if (runId) {
    await deps.state.addFailure(
      runId,
      {
        at: new Date().toISOString(),
        connection: message?.connection ?? 'unknown',
        messageType: message?.type ?? 'invalid',
        reason,
      },
      record.messageId,
    );
  }
  await settle();
}
