import { describe, expect, it } from 'vitest';
import { parseCliOptions, UsageError } from '../../../../infra/local/cli-options.ts';
import { pinnedRuns } from '../../../../infra/local/sandbox-config.ts';
import { parseSimTime } from '../../../../infra/sandbox/framework/clock.ts';
import { parseConfig } from '../../../../shared/config/load.ts';

/** `npm start -- --clock`: a pinned simulated start, and run windows that end on its day. */

const NOW = new Date('2026-11-30T08:00:00Z');

describe('parseSimTime', () => {
  it('reads ISO date-times with their offset, bare dates, epoch ms and Dates', () => {
    expect(parseSimTime('2026-03-01T00:00:00Z')).toBe(Date.UTC(2026, 2, 1));
    expect(parseSimTime('2026-03-01T01:30:00+01:30')).toBe(Date.UTC(2026, 2, 1));
    expect(parseSimTime('2026-03-01T00:00:00.250Z')).toBe(Date.UTC(2026, 2, 1, 0, 0, 0, 250));
    expect(parseSimTime('2026-03-01')).toBe(Date.UTC(2026, 2, 1));
    expect(parseSimTime(Date.UTC(2026, 2, 1))).toBe(Date.UTC(2026, 2, 1));
    expect(parseSimTime(new Date(Date.UTC(2026, 2, 1)))).toBe(Date.UTC(2026, 2, 1));
  });

  it('refuses what the machine would read in its own zone, or roll into another day', () => {
    expect(() => parseSimTime('2026-03-01T00:00:00')).toThrow(
      'clock: expected an ISO date-time with its offset',
    );
    expect(() => parseSimTime('March 1, 2026')).toThrow('clock: expected an ISO date-time');
    expect(() => parseSimTime('2026-02-29T00:00:00Z')).toThrow('clock: not a calendar date and time');
    expect(() => parseSimTime('2026-03-01T24:00:00Z')).toThrow('clock: not a calendar date and time');
    expect(() => parseSimTime(Number.NaN, 'start')).toThrow('start: expected a valid time');
  });
});

describe('npm start --clock', () => {
  const parse = (...argv: string[]) => parseCliOptions(argv, NOW);
  const usage = (...argv: string[]) => {
    try {
      parse(...argv);
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      return (err as Error).message;
    }
    throw new Error('expected a usage error');
  };

  it('takes a past instant and keeps it as UTC', () => {
    expect(parse('--clock', '2026-03-01T02:00:00+02:00').clock).toBe('2026-03-01T00:00:00.000Z');
    expect(parse('--clock', '2026-03-01').clock).toBe('2026-03-01T00:00:00.000Z');
    expect(parse().clock).toBeUndefined();
  });

  it('names --clock when the value is not a time, or not a day that is over', () => {
    expect(usage('--clock', 'yesterday')).toBe(
      '--clock: expected an ISO date-time with its offset, e.g. 2026-03-01T00:00:00Z, got "yesterday"',
    );
    expect(usage('--clock', '2026-11-30T00:00:00Z')).toMatch(
      /^--clock: 2026-11-30T00:00:00Z is not before today \(2026-11-30, UTC\)/,
    );
    expect(usage('--clock', '2027-01-01')).toMatch(/^--clock: 2027-01-01 is not before today/);
    expect(usage('--clock')).toMatch(/--clock/);
  });

  it('is for the sandbox only, and windows may not reach past its day', () => {
    expect(usage('--live', '--clock', '2026-03-01')).toBe(
      '--faults, --simulate, --seed, --time-scale and --clock are for the sandbox, not --live',
    );
    expect(usage('--live', '--simulate', 'gaps.json')).toMatch(/for the sandbox, not --live/);
    expect(usage('--clock', '2026-03-01', '--from', '2026-03-02')).toBe(
      '--from 2026-03-02 is after the --clock day 2026-03-01',
    );
    expect(usage('--clock', '2026-03-01', '--from', '2026-02-01', '--to', '2026-03-05')).toBe(
      '--to 2026-03-05 is after the --clock day 2026-03-01',
    );
    expect(parse('--clock', '2026-03-01T12:00:00Z', '--from', '2026-03-01').from).toBe('2026-03-01');
  });
});

describe('run windows at a pinned clock', () => {
  const config = parseConfig({
    connections: [
      { id: 'sp-a', lookbackDays: 30 },
      { id: 'sp-b', lookbackDays: 30 },
      { id: 'sp-c', lookbackDays: 10 },
      { id: 'sp-old', lookbackDays: 30, backfillFrom: '2025-06-01' },
      { id: 'sp-new', lookbackDays: 30, backfillFrom: '2026-04-01' },
    ].map((c) => ({
      provider: 'sp-api',
      region: 'NA',
      secretName: `test/${c.id}`,
      scopes: ['A2Q3Y263D00KWC'],
      schedule: 'rate(1 day)',
      ...c,
    })),
  });

  it("gives each connection its first run's window on the pinned day, one run per distinct window", () => {
    const runs = pinnedRuns(config.connections, '2026-03-01').map((r) => ({
      window: r.window,
      connections: r.connections.map((c) => c.id),
    }));
    expect(runs).toEqual([
      { window: { from: '2026-01-30', to: '2026-03-01' }, connections: ['sp-a', 'sp-b'] },
      { window: { from: '2026-02-19', to: '2026-03-01' }, connections: ['sp-c'] },
      { window: { from: '2025-06-01', to: '2026-03-01' }, connections: ['sp-old'] },
      // A backfill start after the pinned day: that day alone, as the providers do for a future start.
      { window: { from: '2026-03-01', to: '2026-03-01' }, connections: ['sp-new'] },
    ]);
  });
});
