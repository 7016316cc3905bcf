import { describe, expect, it } from 'vitest';
import { type JobMessage, parseJobMessage } from '../../../../shared/jobs/messages.ts';
import { loopGuardReason, loopLimits } from '../../../../shared/runtime/steps/loop-guard.ts';

const fetch = (extra: Record<string, unknown>): JobMessage =>
  parseJobMessage(
    JSON.stringify({
      v: 1,
      type: 'fetch',
      runId: 'r',
      provider: 'sp-api',
      connection: 'c',
      scope: 's',
      window: { from: '2026-01-01', to: '2026-01-31' },
      ...extra,
    }),
  );

describe('loopGuardReason', () => {
  const limits = loopLimits({});
  const now = Date.parse('2026-03-10T00:00:00Z');

  it('lets work go on within the limits (defaults: 500 hand-backs, 72 hours)', () => {
    expect(limits).toEqual({ maxContinuations: 500, maxAgeHours: 72 });
    expect(
      loopGuardReason(fetch({ continuation: 500, startedAt: '2026-03-07T01:00:00Z' }), limits, now),
    ).toBeUndefined();
    expect(loopGuardReason(fetch({}), limits, now)).toBeUndefined();
  });
  it('stops a message handed back too often, or whose work began too long ago, saying which', () => {
    expect(loopGuardReason(fetch({ continuation: 501 }), limits, now)).toMatch(
      /501 times \(MAX_CONTINUATIONS 500\)/,
    );
    expect(loopGuardReason(fetch({ startedAt: '2026-03-06T23:00:00Z' }), limits, now)).toMatch(
      /started 73 h ago .*MAX_MESSAGE_AGE_HOURS 72/,
    );
    expect(loopGuardReason(fetch({ continuation: 3 }), loopLimits({ MAX_CONTINUATIONS: '2' }), now)).toMatch(
      /3 times/,
    );
  });
});
