import { describe, expect, it } from 'vitest';
import type { JobMessage } from '../../../../shared/jobs/messages.ts';
import type { FrameDeps } from '../../../../shared/runtime/steps/frame-deps.ts';
import { MessageCounters } from '../../../../shared/runtime/steps/message-counters.ts';

function fakeDeps() {
  const added: unknown[] = [];
  const metrics: Array<[string, number]> = [];
  const deps = {
    metrics: {
      addDimension() {},
      addMetric: (name: string, _u: string, n: number) => metrics.push([name, n]),
    },
    state: { addCounts: async (...a: unknown[]) => void added.push(a) },
  } as unknown as FrameDeps;
  return { deps, added, metrics };
}

const message = { runId: 'r1', connection: 'c1', provider: 'sp-api' } as JobMessage;

describe('MessageCounters', () => {
  it("adds a message's counters to its run once, even when a late failure records again", async () => {
    const { deps, added, metrics } = fakeDeps();
    const counters = new MessageCounters();
    counters.count('invoices', 3);
    counters.count('invoices');
    counters.count('bytes', 100);
    await counters.record(deps, message);
    counters.count('failures');
    await counters.record(deps, message);
    expect(added).toEqual([['r1', 'c1', { invoices: 4, bytes: 100 }]]);
    expect(metrics.filter(([name]) => name === 'Records')).toHaveLength(1);
  });
});
