import type { Connection } from '../../config/schema.ts';
import type { Window } from '../../jobs/messages.ts';

const DAY_MS = 86_400_000;

export function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function addDays(day: string, days: number): string {
  return isoDay(new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS));
}

/**
 * The window a run covers when the message names none: from the watermark less the lookback (so status
 * changes such as ISSUED -> PAID_IN_FULL inside it are read again), else from backfillFrom, else today less
 * the lookback; up to today (UTC).
 */
export function defaultWindow(
  connection: Pick<Connection, 'lookbackDays' | 'backfillFrom'>,
  watermark: string | undefined,
  now: Date,
): Window {
  const today = isoDay(now);
  const from = watermark
    ? addDays(watermark, -connection.lookbackDays)
    : (connection.backfillFrom ?? addDays(today, -connection.lookbackDays));
  // A watermark or backfillFrom in the future (a clock moved back) still gives a valid window: today.
  if (from > today) return { from: today, to: today };
  return { from, to: today };
}

/** YYYY-MM-DD -> yyyyMMdd (Amazon Ads' compact dates). */
export function compactDate(day: string): string {
  return day.replace(/-/g, '');
}
