import { describe, expect, it } from 'vitest';
import { RECONCILE_QUEUES_ENV, reconcilerEnv } from '../../../shared/runtime/reconciler-env.ts';

const queues = [
  {
    queue: 'sp-api-invoices',
    dlqUrl: 'https://sqs/dlq-1',
    maxReceiveCount: 5,
    visibilityTimeoutSeconds: 720,
  },
];

describe('reconcilerEnv', () => {
  it('reads the table, the queues the stack lists and the stale limit', () => {
    expect(
      reconcilerEnv({
        STATE_TABLE: 't',
        [RECONCILE_QUEUES_ENV]: JSON.stringify(queues),
        RUN_STALE_AFTER_MINUTES: '2',
      }),
    ).toEqual({ table: 't', queues, staleAfterMs: 120_000 });
    expect(
      reconcilerEnv({ STATE_TABLE: 't', [RECONCILE_QUEUES_ENV]: JSON.stringify(queues) }).staleAfterMs,
    ).toBe((15 + 60 + 60) * 60_000);
  });

  it('names the variable that is missing or malformed', () => {
    expect(() => reconcilerEnv({ [RECONCILE_QUEUES_ENV]: '[]' })).toThrow('STATE_TABLE is not set');
    expect(() => reconcilerEnv({ STATE_TABLE: 't' })).toThrow(`${RECONCILE_QUEUES_ENV} is not set`);
    expect(() => reconcilerEnv({ STATE_TABLE: 't', [RECONCILE_QUEUES_ENV]: '{' })).toThrow(
      `${RECONCILE_QUEUES_ENV} is not JSON`,
    );
    expect(() =>
      reconcilerEnv({ STATE_TABLE: 't', [RECONCILE_QUEUES_ENV]: JSON.stringify([{ queue: 'q' }]) }),
    ).toThrow(/expected a list of \{queue, dlqUrl, maxReceiveCount, visibilityTimeoutSeconds\}/);
  });
});
