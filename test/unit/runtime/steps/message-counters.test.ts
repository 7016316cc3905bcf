import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { METRICS } from '../../../../shared/aws/resources.ts';
import type { JobMessage, PollMessage } from '../../../../shared/jobs/messages.ts';
import type { ExportState } from '../../../../shared/providers/types.ts';
import type { FrameDeps } from '../../../../shared/runtime/steps/frame-deps.ts';
import { MessageCounters } from '../../../../shared/runtime/steps/message-counters.ts';

interface Emf {
  _aws: {
    CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }>;
  };
  [key: string]: unknown;
}

/** The frame's Metrics as the frame builds it (with a service name), and a state store that records calls. */
function fakeDeps(exportState?: ExportState) {
  const added: unknown[] = [];
  const lines: Emf[] = [];
  // Powertools writes each EMF blob as one line to stdout, as Lambda's log stream receives it.
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    const text = String(chunk);
    if (text.includes('"_aws"')) lines.push(JSON.parse(text) as Emf);
    return true;
  });
  const metrics = new Metrics({ namespace: METRICS.namespace, serviceName: 'sp-api-invoices' });
  const deps = {
    metrics,
    state: {
      addCounts: async (...a: unknown[]) => void added.push(a),
      getExport: async () => (exportState ? { state: exportState } : undefined),
    },
  } as unknown as FrameDeps;
  return {
    deps,
    added,
    metrics,
    emf: () => {
      expect(lines).toHaveLength(1);
      return lines[0]!;
    },
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

const message = { type: 'fetch', runId: 'r1', connection: 'c1', provider: 'sp-api' } as JobMessage;
const names = (emf: Emf) => emf._aws.CloudWatchMetrics[0]!.Metrics.map((m) => m.Name);

describe('MessageCounters', () => {
  it("adds a message's counters to its run once, even when a late failure records again", async () => {
    const { deps, added, emf } = fakeDeps();
    const counters = new MessageCounters();
    counters.count('invoices', 3);
    counters.count('invoices');
    counters.count('bytes', 100);
    await counters.record(deps, message);
    counters.count('failures');
    await counters.record(deps, message);
    expect(added).toEqual([['r1', 'c1', { invoices: 4, bytes: 100 }]]);
    expect(names(emf())).toEqual(['Records', 'Invoices', 'BytesCopied']);
    expect(emf()).toMatchObject({ Records: 1, Invoices: 4, BytesCopied: 100 });
  });

  it('counts what tallied work landed only once it is kept; how it went (retries, throttles) either way', async () => {
    const counters = new MessageCounters();
    counters.count('invoices', 2);
    const landedFirst = async () => {
      counters.count('invoices');
      await new Promise((r) => setTimeout(r, 1));
      counters.count('documents', 2);
    };
    const landedTooButNotKept = async () => {
      counters.count('invoices');
      await new Promise((r) => setTimeout(r, 1));
      counters.count('bytes', 100);
      counters.count('retries', 3);
    };
    // Two at once, as a listing's pool runs them: each count goes to its own piece.
    const [kept, dropped] = await Promise.all([
      counters.tallied(landedFirst),
      counters.tallied(landedTooButNotKept),
    ]);
    expect(counters.counts).toEqual({ invoices: 2, retries: 3 });
    kept.keep();
    void dropped;
    const failed = counters.tallied(async () => {
      counters.count('documents');
      counters.count('throttles');
      throw new Error('handed back: the continuation does it again');
    });
    await expect(failed).rejects.toThrow('handed back');
    expect(counters.counts).toEqual({ invoices: 3, documents: 2, retries: 3, throttles: 1 });
  });

  it('emits every metric under {provider} and {provider, connection}, without the service dimension', async () => {
    const { deps, emf } = fakeDeps();
    const counters = new MessageCounters();
    counters.count('throttles');
    await counters.record(deps, message);
    const out = emf();
    expect(out._aws.CloudWatchMetrics[0]!.Namespace).toBe(METRICS.namespace);
    expect(out._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['provider'], ['provider', 'connection']]);
    expect(out).toMatchObject({ provider: 'sp-api', connection: 'c1' });
    expect(out).not.toHaveProperty('service');
  });

  it('leaves no dimension behind for the next metrics of the container', async () => {
    const { deps, metrics } = fakeDeps();
    await new MessageCounters().record(deps, message);
    expect(metrics.hasStoredMetrics()).toBe(false);
    metrics.addMetric('Probe', 'Count', 1);
    const next = metrics.serializeMetrics() as unknown as Emf;
    expect(next).not.toHaveProperty('provider');
    expect(next).not.toHaveProperty('service');
  });

  const poll = {
    v: 1,
    type: 'poll',
    runId: 'r1',
    provider: 'sp-api',
    connection: 'c1',
    scope: 'A2Q3Y263D00KWC',
    exportKey: 'k1',
    exportId: 'e1',
    createdAt: '2026-01-01T00:00:00.000Z',
    deadline: '2026-01-01T12:00:00.000Z',
    attempt: 3,
    continuation: 0,
  } satisfies PollMessage;

  it("gives each poll the export's age in seconds", async () => {
    const { deps, emf } = fakeDeps();
    await new MessageCounters().record(deps, poll, new Date('2026-01-01T00:10:00.000Z'));
    expect(emf()).toMatchObject({ ExportAgeSeconds: 600 });
    expect(names(emf())).not.toContain('ExportsExpired');
  });

  it.each([
    ['EXPIRED', true],
    ['FAILED', false],
  ] as const)(
    'counts a failed export as expired only when the registry says so (%s)',
    async (state, expired) => {
      const { deps, emf } = fakeDeps(state);
      const counters = new MessageCounters();
      counters.count('exportsFailed');
      await counters.record(deps, poll, new Date('2026-01-01T12:00:01.000Z'));
      expect(names(emf()).includes('ExportsExpired')).toBe(expired);
      expect(emf()).toMatchObject({ ExportsFailed: 1 });
    },
  );
});
