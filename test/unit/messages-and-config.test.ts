import { describe, expect, it } from 'vitest';
import { normalizedMonthKey, rawInvoiceKey, safeSegment } from '../../shared/aws/keys.ts';
import { defaultConfigPath, loadConfig, parseConfig } from '../../shared/config/load.ts';
import { MIN_TIMEOUT_SECONDS } from '../../shared/config/schema.ts';
import { nextPollDelay } from '../../shared/engine/poll-export.ts';
import { HTTP_TIMEOUTS } from '../../shared/http/agent.ts';
import { InvalidMessageError, parseJobMessage } from '../../shared/jobs/messages.ts';
import { MAX_DELAY_SECONDS, planDelay, queueFor } from '../../shared/jobs/queue.ts';
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
    expect(message).toContain('connection "cm360-main", field "colour": unknown key');
  });

  /** The lines of the error a config with one change gets (empty when it is accepted). */
  const problems = (mutate: (raw: Raw) => void): string[] => {
    const raw = JSON.parse(JSON.stringify(example)) as Raw;
    mutate(raw);
    try {
      parseConfig(raw, 'c.json');
      return [];
    } catch (err) {
      return (err as Error).message.split('\n').slice(1);
    }
  };
  type Raw = { providers: Record<string, Record<string, unknown>>; connections: Record<string, unknown>[] };

  it('names an unknown key by its own path, however deep', () => {
    expect(
      problems((raw) => {
        raw.connections[2]!.filters = { dateTyp: 'x', statuses: [] };
        raw.providers['sp-api']!.timeout = 60;
        (raw as Record<string, unknown>).connection = [];
      }),
    ).toEqual([
      '  - field "providers.sp-api.timeout": unknown key',
      '  - connection "sp-br", field "filters.dateTyp": unknown key',
      '  - field "connection": unknown key',
    ]);
  });

  it('refuses schedules EventBridge would refuse at deploy time, saying what is wrong', () => {
    const schedule = (value: string) =>
      problems((raw) => {
        raw.connections[2]!.schedule = value;
      });
    expect(schedule('rate(1 days)')).toEqual([
      '  - connection "sp-br", field "schedule": rate unit must be "day" for a value of 1, as in "rate(1 day)"',
    ]);
    expect(schedule('rate(0 minutes)')).toEqual([
      '  - connection "sp-br", field "schedule": rate value must be a positive whole number, not "0"',
    ]);
    expect(schedule('cron(0 5 * * * *)')).toEqual([
      '  - connection "sp-br", field "schedule": cron day-of-month and day-of-week cannot both be "*"; one must be "?"',
    ]);
    expect(schedule('cron(a b c d e f)')).toEqual([
      '  - connection "sp-br", field "schedule": cron minutes "a": expected 0-59, not "a"',
    ]);
    for (const ok of ['rate(1 day)', 'rate(12 hours)', 'cron(0 6 ? * MON-FRI *)', 'cron(0 0 L * ? *)']) {
      expect(schedule(ok), ok).toEqual([]);
    }
  });

  it('takes only calendar dates as backfillFrom', () => {
    const backfill = (value: string) =>
      problems((raw) => {
        raw.connections[0]!.backfillFrom = value;
      });
    expect(backfill('2026-02-31')).toEqual([
      '  - connection "ads-na", field "backfillFrom": not a calendar date',
    ]);
    expect(backfill('2026-2-1')).toEqual([
      '  - connection "ads-na", field "backfillFrom": expected a date as YYYY-MM-DD',
    ]);
    expect(backfill('2024-02-29')).toEqual([]);
    expect(backfill('2025-02-29')).toHaveLength(1);
  });

  it('refuses two connections on one secret, naming both', () => {
    expect(
      problems((raw) => {
        raw.connections[3]!.secretName = raw.connections[1]!.secretName;
      }),
    ).toEqual([
      '  - connection "cm360-main", field "secretName": secret "invoice-ingest/business-na" is already the ' +
        'secret of connection "business-na"; each connection needs its own',
    ]);
  });

  it('takes only timeouts that leave the frame time to call the provider', () => {
    const timeout = (value: number) =>
      problems((raw) => {
        raw.providers['sp-api']!.timeoutSeconds = value;
      });
    expect(timeout(MIN_TIMEOUT_SECONDS)).toEqual([]);
    expect(timeout(MIN_TIMEOUT_SECONDS - 1)).toHaveLength(1);
    expect(timeout(10)[0]).toMatch(/field "providers\.sp-api\.timeoutSeconds"/);
    // What is left after the frame's 10 s margin holds one provider call through its connect and header waits.
    expect(MIN_TIMEOUT_SECONDS * 1000 - 10_000).toBeGreaterThan(
      HTTP_TIMEOUTS.connectMs + HTTP_TIMEOUTS.headersMs,
    );
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
