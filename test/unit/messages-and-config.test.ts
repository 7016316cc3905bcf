import { describe, expect, it } from 'vitest';
import { normalizedMonthKey, rawInvoiceKey, safeSegment } from '../../shared/aws/keys.ts';
import { defaultConfigPath, loadConfig, parseConfig } from '../../shared/config/load.ts';
import { InvalidMessageError, parseJobMessage } from '../../shared/jobs/messages.ts';
import { MAX_DELAY_SECONDS, planDelay, queueFor } from '../../shared/jobs/queue.ts';
import { nextPollDelay } from '../../shared/engine/poll-export.ts';
import { type RunRequestError, resolveRunRequest } from '../../shared/runtime/runs.ts';

const example = loadConfig(defaultConfigPath());

describe('job messages', () => {
  const base = { v: 1, runId: 'r1', provider: 'sp-api', connection: 'sp-br' };

  it('parses each type and routes it to its queue', () => {
    const run = parseJobMessage(JSON.stringify({ ...base, type: 'run' }));
    expect(queueFor(run)).toBe('sp-api-invoices');
    const fetch = parseJobMessage(
      JSON.stringify({
        ...base,
        type: 'fetch',
        scope: 'A2Q3Y263D00KWC',
        window: { from: '2026-01-01', to: '2026-01-31' },
      }),
    );
    expect(fetch.type === 'fetch' && fetch.continuation).toBe(0);
    const stmt = parseJobMessage(
      JSON.stringify({ ...base, provider: 'amazon-ads', type: 'run', job: 'billing-statements' }),
    );
    expect(queueFor(stmt)).toBe('amazon-ads-billing-statements');
    const poll = parseJobMessage(
      JSON.stringify({
        ...base,
        type: 'poll',
        scope: 's',
        exportKey: 'k',
        exportId: 'e',
        createdAt: '2026-01-01T00:00:00.000Z',
        deadline: '2026-01-02T00:00:00.000Z',
        attempt: 0,
      }),
    );
    expect(queueFor(poll)).toBe('export-poll');
  });

  it('names every bad field of an invalid message', () => {
    const bad = JSON.stringify({
      ...base,
      type: 'fetch',
      scope: '',
      window: { from: '2026-02-01', to: '2026-01-01' },
    });
    expect(() => parseJobMessage(bad)).toThrowError(InvalidMessageError);
    try {
      parseJobMessage(bad);
    } catch (err) {
      expect((err as Error).message).toMatch(/scope/);
      expect((err as Error).message).toMatch(/window\.from/);
    }
    expect(() => parseJobMessage('{not json')).toThrowError(/not JSON/);
    expect(() => parseJobMessage(JSON.stringify({ ...base, type: 'explode' }))).toThrowError(/type/);
  });

  it('chains waits over SQS 900 s cap through notBefore', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(planDelay(30.2, now)).toEqual({ delaySeconds: 31 });
    const long = planDelay(3600, now);
    expect(long.delaySeconds).toBe(MAX_DELAY_SECONDS);
    expect(long.notBefore).toBe('2026-01-01T01:00:00.000Z');
  });
});

describe('poll schedule', () => {
  it('grows by the factor, caps, and never schedules past the deadline', () => {
    const s = { firstDelaySeconds: 10, factor: 2, maxDelaySeconds: 60 };
    const now = new Date('2026-01-01T00:00:00Z');
    const far = new Date('2026-01-02T00:00:00Z');
    expect([0, 1, 2, 3, 4].map((a) => nextPollDelay(s, a, now, far))).toEqual([10, 20, 40, 60, 60]);
    expect(nextPollDelay(s, 4, now, new Date('2026-01-01T00:00:15Z'))).toBe(15);
  });
});

describe('connections config', () => {
  it('the shipped example has one connection per provider', () => {
    expect(new Set(example.connections.map((c) => c.provider))).toEqual(
      new Set(['amazon-ads', 'amazon-business', 'sp-api', 'cm360']),
    );
  });

  it('names the file, the connection and the field of a bad value', () => {
    const raw = structuredClone(JSON.parse(JSON.stringify(example))) as {
      connections: Record<string, unknown>[];
    };
    raw.connections[2]!.schedule = 'every day';
    raw.connections[0]!.region = 'MARS';
    expect(() => parseConfig(raw, 'config/x.json')).toThrowError(
      /config\/x\.json[\s\S]*connection "sp-br", field "schedule"[\s\S]*connection "ads-na", field "region"|config\/x\.json[\s\S]*connection "ads-na", field "region"[\s\S]*connection "sp-br", field "schedule"/,
    );
  });

  it('refuses duplicate ids and unknown fields', () => {
    const raw = JSON.parse(JSON.stringify(example)) as { connections: Record<string, unknown>[] };
    raw.connections[1]!.id = 'ads-na';
    raw.connections[3]!.colour = 'blue';
    const message = (() => {
      try {
        parseConfig(raw, 'c.json');
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(message).toMatch(/duplicate connection id "ads-na"/);
    expect(message).toMatch(/colour/);
  });
});

describe('run requests', () => {
  it('resolves a provider to its enabled connections and a window', () => {
    const r = resolveRunRequest(
      { provider: 'sp-api', from: '2026-01-01' },
      example,
      new Date('2026-02-01T10:00:00Z'),
    );
    expect(r.connections.map((c) => c.id)).toEqual(['sp-br']);
    expect(r.window).toEqual({ from: '2026-01-01', to: '2026-02-01' });
  });

  it('answers a bad request with the field it is about', () => {
    const field = (raw: unknown) => {
      try {
        resolveRunRequest(raw, example);
      } catch (err) {
        return (err as RunRequestError).field;
      }
    };
    expect(field({ provider: 'ebay' })).toBe('provider');
    expect(field({ provider: 'sp-api', connection: 'ads-na' })).toBe('connection');
    expect(field({ provider: 'sp-api', connection: 'nope' })).toBe('connection');
    expect(field({ provider: 'sp-api', from: '2026-13-01' })).toBe('from');
    expect(field({ provider: 'sp-api', to: '2026-01-01' })).toBe('from');
    expect(field({ provider: 'sp-api', colour: 1 })).toBe('(body)');
    expect(field({ provider: 'sp-api', from: '2026-02-31' })).toBe('from');
    expect(field({ provider: 'sp-api', from: '2999-01-01' })).toBe('from');
    expect(field({ provider: 'sp-api', job: 'billing-statements' })).toBe('job');
    expect(field({ provider: 'amazon-ads', job: 'billing-statements' })).toBeUndefined();
  });
});

describe('S3 keys', () => {
  it('cannot be steered out of their prefix by provider ids', () => {
    expect(safeSegment('../../etc/passwd')).not.toContain('/');
    expect(safeSegment('..')).not.toBe('..');
    const key = rawInvoiceKey('sp-api', 'sp-br', 'A2Q3Y263D00KWC', '2026-03-09', '../x/../../y');
    expect(key.startsWith('raw/sp-api/sp-br/A2Q3Y263D00KWC/2026/03/')).toBe(true);
    expect(key.split('/')).toHaveLength(7);
    expect(normalizedMonthKey('cm360', 'c', 'adv1', '2026-03-09')).toBe(
      'invoices/provider=cm360/issue_month=2026-03/c-adv1.jsonl',
    );
  });
});
