import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scheduleProblem } from '../../../shared/config/schedule.ts';

// The rules are EventBridge's (Cron expressions reference, Rate expressions reference): what it accepts must
// pass, what it refuses at deploy time must fail here, naming what is wrong.

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface Field {
  name: string;
  min: number;
  max: number;
  names?: string[];
  step: boolean;
}
const minutes: Field = { name: 'minutes', min: 0, max: 59, step: true };
const hours: Field = { name: 'hours', min: 0, max: 23, step: true };
const dayOfMonth: Field = { name: 'day-of-month', min: 1, max: 31, step: true };
const month: Field = { name: 'month', min: 1, max: 12, names: MONTHS, step: true };
const dayOfWeek: Field = { name: 'day-of-week', min: 1, max: 7, names: DAYS, step: false };
const year: Field = { name: 'year', min: 1970, max: 2199, step: true };

const value = (f: Field) =>
  fc
    .integer({ min: f.min, max: f.max })
    .chain((n) =>
      f.names ? fc.constantFrom(String(n), f.names[n - f.min] as string) : fc.constant(String(n)),
    );
const range = (f: Field) =>
  fc
    .tuple(fc.integer({ min: f.min, max: f.max }), fc.integer({ min: f.min, max: f.max }))
    .map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`);
const step = (f: Field) => fc.integer({ min: 1, max: f.name === 'year' ? 229 : f.max });
const item = (f: Field) =>
  f.step
    ? fc.oneof(
        value(f),
        range(f),
        fc.tuple(fc.oneof(value(f), range(f)), step(f)).map(([b, s]) => `${b}/${s}`),
      )
    : fc.oneof(value(f), range(f));
/** A plain field: `*`, `*\/n`, or a list of values, ranges and increments. */
const plain = (f: Field) =>
  fc.oneof(
    fc.constant('*'),
    ...(f.step ? [step(f).map((s) => `*/${s}`)] : []),
    fc.array(item(f), { minLength: 1, maxLength: 4 }).map((items) => items.join(',')),
  );
const domField = fc.oneof(
  plain(dayOfMonth),
  fc.constant('L'),
  fc.integer({ min: 1, max: 31 }).map((d) => `${d}W`),
);
const dowField = fc.oneof(
  plain(dayOfWeek),
  fc.constant('L'),
  value(dayOfWeek).map((d) => `${d}L`),
  fc.tuple(value(dayOfWeek), fc.integer({ min: 1, max: 5 })).map(([d, n]) => `${d}#${n}`),
);
/** Six valid fields, exactly one day field `?`. */
const validFields = fc
  .tuple(plain(minutes), plain(hours), domField, plain(month), dowField, plain(year), fc.boolean())
  .map(([mi, h, dom, mo, dow, y, byMonthDay]) =>
    byMonthDay ? [mi, h, dom, mo, '?', y] : [mi, h, '?', mo, dow, y],
  );
const cron = (fields: string[]) => `cron(${fields.join(' ')})`;

describe('cron expressions', () => {
  it('accepts every expression built from the documented syntax', () => {
    fc.assert(
      fc.property(validFields, (fields) => {
        expect(scheduleProblem(cron(fields))).toBeUndefined();
      }),
    );
  });

  it('accepts the examples of the EventBridge documentation', () => {
    for (const e of [
      'cron(0 10 * * ? *)',
      'cron(15 12 * * ? *)',
      'cron(0 18 ? * MON-FRI *)',
      'cron(0 8 1 * ? *)',
      'cron(0/15 * * * ? *)',
      'cron(0/10 * ? * MON-FRI *)',
      'cron(0/5 8-17 ? * MON-FRI *)',
      'cron(0 9 ? * 2#1 *)',
      'cron(0 6 1,15 * ? *)',
      'cron(0 0 L * ? *)',
      'cron(0 0 3W JAN,FEB,MAR ? 2026-2030)',
    ]) {
      expect(scheduleProblem(e), e).toBeUndefined();
    }
  });

  it('refuses a value out of its field range, naming the field', () => {
    const order = [minutes, hours, dayOfMonth, month, dayOfWeek, year];
    const outOfRange = fc
      .constantFrom(...order)
      .chain((f) =>
        fc.tuple(
          fc.constant(f),
          fc.oneof(
            fc.integer({ min: f.max + 1, max: f.max + 500 }),
            ...(f.min > 0 ? [fc.integer({ min: 0, max: f.min - 1 })] : []),
          ),
        ),
      );
    fc.assert(
      fc.property(validFields, outOfRange, (valid, [f, bad]) => {
        const i = order.indexOf(f);
        const fields = [...valid];
        fields[i] = String(bad);
        // The other day field gives way, so only the range is wrong.
        if (f === dayOfMonth) fields[4] = '?';
        if (f === dayOfWeek) fields[2] = '?';
        expect(scheduleProblem(cron(fields))).toMatch(new RegExp(`^cron ${f.name} "${bad}": expected`));
      }),
    );
  });

  it('refuses day fields that are both set, both "*" or both "?"', () => {
    fc.assert(
      fc.property(validFields, domField, dowField, (valid, dom, dow) => {
        const fields = [...valid];
        fields[2] = dom;
        fields[4] = dow;
        expect(scheduleProblem(cron(fields))).toMatch(/^cron day-of-month and day-of-week cannot both be/);
      }),
    );
    expect(scheduleProblem('cron(0 5 * * * *)')).toBe(
      'cron day-of-month and day-of-week cannot both be "*"; one must be "?"',
    );
    expect(scheduleProblem('cron(0 5 ? * ? *)')).toMatch(/cannot both be "\?"/);
  });

  it('refuses malformed fields with what the field takes', () => {
    expect(scheduleProblem('cron(a b c d e f)')).toBe('cron minutes "a": expected 0-59, not "a"');
    expect(scheduleProblem('cron(0 5 * * ?)')).toMatch(/^cron needs 6 fields/);
    expect(scheduleProblem('cron(0  5 * * ? *)')).toMatch(/^cron needs 6 fields/);
    expect(scheduleProblem('cron(0 24 * * ? *)')).toBe('cron hours "24": expected 0-23, not "24"');
    expect(scheduleProblem('cron(0 5 ? * 1/2 *)')).toMatch(/^cron day-of-week "1\/2": increments/);
    expect(scheduleProblem('cron(0 5 ? * 3#1,6#3 *)')).toMatch(
      /^cron day-of-week "3#1,6#3": "#" allows a single/,
    );
    expect(scheduleProblem('cron(0 5 ? * 3#6 *)')).toMatch(/^cron day-of-week "3#6"/);
    expect(scheduleProblem('cron(0 5 L * ? 1969)')).toMatch(/^cron year "1969": expected 1970-2199/);
    expect(scheduleProblem('cron(0/0 5 * * ? *)')).toMatch(/^cron minutes "0\/0": the increment/);
    expect(scheduleProblem('cron(30-10 5 * * ? *)')).toMatch(/runs backwards/);
    expect(scheduleProblem('cron(0 5 * 13 ? *)')).toMatch(/^cron month "13": expected 1-12 or JAN-DEC/);
    expect(scheduleProblem('cron(0 5 ? * MONDAY *)')).toMatch(/expected 1-7 or SUN-SAT/);
    expect(scheduleProblem('cron(? 5 * * ? *)')).toMatch(
      /^cron minutes "\?": "\?" is only for the day fields/,
    );
    expect(scheduleProblem('cron(0 5 32W * ? *)')).toMatch(/^cron day-of-month "32W"/);
    expect(scheduleProblem('every day')).toMatch(/expected an EventBridge expression/);
  });
});

describe('rate expressions', () => {
  const units = ['minute', 'hour', 'day'] as const;

  it('accepts a positive whole number with a singular unit for 1 and a plural one otherwise', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom(...units), (n, unit) => {
        expect(scheduleProblem(`rate(${n} ${n === 1 ? unit : `${unit}s`})`)).toBeUndefined();
      }),
    );
  });

  it('refuses the wrong number for the value, and says which unit to write', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom(...units), (n, unit) => {
        const wrong = n === 1 ? `${unit}s` : unit;
        const right = n === 1 ? unit : `${unit}s`;
        expect(scheduleProblem(`rate(${n} ${wrong})`)).toContain(`rate unit must be "${right}"`);
      }),
    );
    expect(scheduleProblem('rate(1 days)')).toBe(
      'rate unit must be "day" for a value of 1, as in "rate(1 day)"',
    );
  });

  it('refuses a value that is not a positive whole number, and an unknown unit', () => {
    for (const v of ['0', '-1', '1.5', '01', 'x']) {
      expect(scheduleProblem(`rate(${v} minutes)`), v).toBe(
        `rate value must be a positive whole number, not "${v}"`,
      );
    }
    expect(scheduleProblem('rate(5 weeks)')).toMatch(/^rate unit must be minute\(s\), hour\(s\) or day\(s\)/);
    expect(scheduleProblem('rate(5minutes)')).toMatch(/^expected "rate\(value unit\)"/);
  });
});
