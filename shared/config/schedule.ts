/**
 * EventBridge Scheduler expressions, checked the way the service checks them, so a schedule it would refuse
 * fails `npm start` and `cdk synth` instead of the deploy. Rules from the EventBridge "Cron expressions
 * reference" and "Rate expressions reference":
 *
 * - `rate(value unit)`: value a positive integer; unit `minute|hour|day` for 1, `minutes|hours|days` otherwise.
 * - `cron(minutes hours day-of-month month day-of-week year)`, each field a `*`, a value, a range `a-b`, a
 *   comma list of values and ranges, or (where the field allows `/`) an increment `start/step`; besides:
 *   day-of-month `?`, `L`, `nW`; day-of-week `?`, `L`, `dL`, `d#n`. Exactly one of the two day fields is `?`.
 *
 * Stricter than the service in two corners it leaves undocumented: names must be upper case (JAN, MON) and a
 * range must not wrap (FRI-MON); both are refused here rather than risk a deploy that fails.
 */

interface CronField {
  name: string;
  min: number;
  max: number;
  /** Names for the values min, min+1, ... (months and week days). */
  names?: readonly string[];
  /** Whether `start/step` increments are allowed (not in day-of-week). */
  step: boolean;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

const FIELDS: readonly CronField[] = [
  { name: 'minutes', min: 0, max: 59, step: true },
  { name: 'hours', min: 0, max: 23, step: true },
  { name: 'day-of-month', min: 1, max: 31, step: true },
  { name: 'month', min: 1, max: 12, names: MONTHS, step: true },
  { name: 'day-of-week', min: 1, max: 7, names: DAYS, step: false },
  { name: 'year', min: 1970, max: 2199, step: true },
];
const DAY_OF_MONTH = 2;
const DAY_OF_WEEK = 4;

const EXAMPLE = 'expected an EventBridge expression such as "rate(1 day)" or "cron(0 6 * * ? *)"';

/** Why EventBridge Scheduler would refuse the expression, or undefined when it accepts it. */
export function scheduleProblem(expression: string): string | undefined {
  const rate = /^rate\((.*)\)$/.exec(expression);
  if (rate) return rateProblem(rate[1] ?? '');
  const cron = /^cron\((.*)\)$/.exec(expression);
  if (cron) return cronProblem(cron[1] ?? '');
  return EXAMPLE;
}

function rateProblem(body: string): string | undefined {
  const m = /^(\S+) (\S+)$/.exec(body);
  if (!m) return 'expected "rate(value unit)", e.g. "rate(1 day)" or "rate(6 hours)"';
  const [, value = '', unit = ''] = m;
  if (!/^[1-9]\d*$/.test(value)) return `rate value must be a positive whole number, not "${value}"`;
  const singular = /^(minute|hour|day)s?$/.exec(unit)?.[1];
  if (!singular) return `rate unit must be minute(s), hour(s) or day(s), not "${unit}"`;
  const expected = value === '1' ? singular : `${singular}s`;
  if (unit !== expected) {
    return `rate unit must be "${expected}" for a value of ${value === '1' ? '1' : 'more than 1'}, as in "rate(${value} ${expected})"`;
  }
  return undefined;
}

function cronProblem(body: string): string | undefined {
  const parts = body.split(' ');
  if (parts.length !== FIELDS.length || parts.some((p) => p === '')) {
    return `cron needs 6 fields separated by single spaces (minutes hours day-of-month month day-of-week year), got "${body}"`;
  }
  for (const [i, field] of FIELDS.entries()) {
    const problem = fieldProblem(field, i, parts[i] ?? '');
    if (problem) return `cron ${field.name} "${parts[i]}": ${problem}`;
  }
  const dom = parts[DAY_OF_MONTH];
  const dow = parts[DAY_OF_WEEK];
  if (dom === '?' && dow === '?')
    return 'cron day-of-month and day-of-week cannot both be "?"; set one of them';
  if (dom !== '?' && dow !== '?') {
    const what = dom === '*' && dow === '*' ? 'both be "*"' : 'both be set';
    return `cron day-of-month and day-of-week cannot ${what}; one must be "?"`;
  }
  return undefined;
}

function fieldProblem(field: CronField, index: number, text: string): string | undefined {
  if (text === '?') {
    return index === DAY_OF_MONTH || index === DAY_OF_WEEK ? undefined : '"?" is only for the day fields';
  }
  if (index === DAY_OF_MONTH) {
    if (text === 'L') return undefined;
    const weekday = /^(\d+)W$/.exec(text);
    if (weekday) return valueProblem(field, weekday[1] ?? '');
  }
  if (index === DAY_OF_WEEK) {
    if (text === 'L') return undefined;
    const last = /^([^#L]+)L$/.exec(text);
    if (last) return valueProblem(field, last[1] ?? '');
    if (text.includes('#') && text.includes(',')) return '"#" allows a single expression, not a list';
    const nth = /^([^#]+)#(.*)$/.exec(text);
    if (nth) {
      return (
        valueProblem(field, nth[1] ?? '') ??
        (/^[1-5]$/.test(nth[2] ?? '') ? undefined : `the week after "#" must be 1-5, not "${nth[2]}"`)
      );
    }
  }
  const items = text.split(',');
  for (const item of items) {
    if (items.length > 1 && item.startsWith('*')) return '"*" cannot be part of a list';
    const problem = itemProblem(field, item);
    if (problem) return problem;
  }
  return undefined;
}

/** One comma-separated item: `*`, `v`, `a-b`, or with a step `*\/n`, `v/n`, `a-b/n`. */
function itemProblem(field: CronField, item: string): string | undefined {
  const slash = item.indexOf('/');
  const base = slash < 0 ? item : item.slice(0, slash);
  if (slash >= 0) {
    if (!field.step) return 'increments ("/") are not allowed in this field';
    const step = item.slice(slash + 1);
    const limit = field.max - (field.name === 'year' ? field.min : 0);
    if (!/^[1-9]\d*$/.test(step) || Number(step) > limit) {
      return `the increment after "/" must be a whole number from 1 to ${limit}`;
    }
  }
  if (base === '*') return undefined;
  const dash = base.indexOf('-');
  if (dash < 0) return valueProblem(field, base);
  const from = base.slice(0, dash);
  const to = base.slice(dash + 1);
  const problem = valueProblem(field, from) ?? valueProblem(field, to);
  if (problem) return problem;
  if (toNumber(field, from) > toNumber(field, to)) return `the range "${base}" runs backwards`;
  return undefined;
}

function valueProblem(field: CronField, text: string): string | undefined {
  const allowed = `${field.min}-${field.max}${field.names ? ` or ${field.names[0]}-${field.names.at(-1)}` : ''}`;
  if (/^\d+$/.test(text) || field.names?.includes(text)) {
    const n = toNumber(field, text);
    if (n >= field.min && n <= field.max) return undefined;
  }
  return `expected ${allowed}${text === '' ? '' : `, not "${text}"`}`;
}

function toNumber(field: CronField, text: string): number {
  const named = field.names?.indexOf(text) ?? -1;
  return named >= 0 ? field.min + named : Number(text);
}
