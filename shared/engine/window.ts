import type { Connection } from '../config/schema.ts';
import type { Window } from '../jobs/messages.ts';

const DAY_MS = 86_400_000;

export function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function addDays(day: string, days: number): string {
  return isoDay(new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS));
}

/**
 * The one window rule (README "Configure connections"): a scope with a watermark is read again from the
 * watermark less lookbackDays, so status changes inside it are picked up; a scope's first run starts at
 * backfillFrom, or at today less lookbackDays. The window ends today (UTC). A start in the future (a clock
 * moved back) still gives a valid window: today.
 */
export function windowFor(
  connection: Pick<Connection, 'lookbackDays' | 'backfillFrom'>,
  watermark: string | undefined,
  now: Date,
): Window {
  const today = isoDay(now);
  const from = watermark
    ? addDays(watermark, -connection.lookbackDays)
    : (connection.backfillFrom ?? addDays(today, -connection.lookbackDays));
  return from > today ? { from: today, to: today } : { from, to: today };
}

/** The months (YYYY-MM) a window spans. */
export function monthsOf(window: Window): string[] {
  const months: string[] = [];
  let [y, m] = window.from.slice(0, 7).split('-').map(Number) as [number, number];
  const last = window.to.slice(0, 7);
  for (;;) {
    const month = `${y}-${String(m).padStart(2, '0')}`;
    months.push(month);
    if (month >= last) return months;
    m++;
    if (m > 12) {
      m = 1;
      y++;
    }
  }
}
