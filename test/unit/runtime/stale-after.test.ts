import { describe, expect, it } from 'vitest';
import { POLLER_SETTINGS } from '../../../infra/aws/settings.ts';
import { FUNCTION_SETTINGS } from '../../../infra/local/function-settings.ts';
import { visibilityTimeoutSeconds } from '../../../shared/aws/resources.ts';
import { providerSettings } from '../../../shared/config/schema.ts';
import { staleAfterMinutes } from '../../../shared/runtime/stale-after.ts';

const queue = (maxReceiveCount: number, timeoutSeconds: number) => ({
  maxReceiveCount,
  visibilityTimeoutSeconds: visibilityTimeoutSeconds(timeoutSeconds),
});

describe('staleAfterMinutes', () => {
  it('waits out the longest quiet spell of a live message: 900 s of delay, every receive, and a margin', () => {
    // The defaults: providers 5 x 720 s, the export poller 5 x 3600 s.
    const provider = providerSettings({ connections: [], providers: {} }, 'sp-api');
    const queues = [
      queue(provider.maxReceiveCount, provider.timeoutSeconds),
      queue(POLLER_SETTINGS.maxReceiveCount, POLLER_SETTINGS.timeoutSeconds),
    ];
    expect(staleAfterMinutes(queues, {})).toBe(15 + 300 + 60);
    // The default README and `npm start --set` name.
    expect(FUNCTION_SETTINGS.RUN_STALE_AFTER_MINUTES?.default).toBe(String(staleAfterMinutes(queues, {})));
    expect(staleAfterMinutes([queue(3, 100)], {})).toBe(15 + 30 + 60);
  });

  it('takes RUN_STALE_AFTER_MINUTES over the derived value, and names it when it is not a number', () => {
    expect(staleAfterMinutes([queue(5, 120)], { RUN_STALE_AFTER_MINUTES: '30' })).toBe(30);
    expect(staleAfterMinutes([queue(5, 120)], { RUN_STALE_AFTER_MINUTES: '0' })).toBe(0);
    expect(() => staleAfterMinutes([], { RUN_STALE_AFTER_MINUTES: 'soon' })).toThrow(
      'environment variable RUN_STALE_AFTER_MINUTES must be a non-negative number, got "soon"',
    );
  });
});
