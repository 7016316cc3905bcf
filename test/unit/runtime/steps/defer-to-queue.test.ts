import { describe, expect, it } from 'vitest';
import { ExportBusyError } from '../../../../shared/aws/state-store.ts';
import { DeferError } from '../../../../shared/http/errors.ts';
import type { JobMessage, JobMessageInput } from '../../../../shared/jobs/messages.ts';
import type { JobQueue } from '../../../../shared/providers/types.ts';
import { deferToQueue } from '../../../../shared/runtime/steps/defer-to-queue.ts';
import type { FrameDeps } from '../../../../shared/runtime/steps/frame-deps.ts';

const deps = { logger: { info() {} } } as unknown as FrameDeps;
const message = {
  v: 1,
  type: 'fetch',
  runId: 'r',
  provider: 'sp-api',
  connection: 'c',
  scope: 's',
  continuation: 4,
} as unknown as JobMessage;

function queue(fail?: Error) {
  const sent: Array<{ m: JobMessageInput; delay: number | undefined }> = [];
  const q: JobQueue = {
    send: async (m, o) => {
      if (fail) throw fail;
      sent.push({ m, delay: o?.delaySeconds });
    },
    sendBatch: async () => {},
  };
  return { q, sent };
}

describe('deferToQueue', () => {
  it('sends the continuation at the time the provider named, and counts a defer', async () => {
    const { q, sent } = queue();
    const next = { ...message, cursor: 'p2' } as JobMessageInput;
    let defers = 0;
    const err = new DeferError('getInvoices', new Date(Date.now() + 30_000), 'throttled', next);
    expect(await deferToQueue(deps, err, message, q, () => defers++)).toBe(true);
    expect(sent[0]!.m).toBe(next);
    expect(sent[0]!.delay).toBeGreaterThan(25);
    expect(defers).toBe(1);
  });
  it('sends the message itself again, counted once more for the loop guard, when an export is being created elsewhere; leaves other errors alone', async () => {
    const { q, sent } = queue();
    expect(await deferToQueue(deps, new ExportBusyError('busy'), message, q, () => {})).toBe(true);
    expect(sent[0]!.m).toEqual({ ...message, continuation: 5 });
    expect(await deferToQueue(deps, new Error('boom'), message, q, () => {})).toBe(false);
  });
  it('a continuation that is not a valid message is a permanent error (retrying repeats it)', async () => {
    const zod = Object.assign(new Error('scope: too small'), { name: 'ZodError' });
    const { q } = queue(zod);
    await expect(
      deferToQueue(
        deps,
        new DeferError('x', new Date(), 'budget', message as JobMessageInput),
        message,
        q,
        () => {},
      ),
    ).rejects.toMatchObject({ retryable: false, message: expect.stringMatching(/invalid continuation/) });
  });
});
