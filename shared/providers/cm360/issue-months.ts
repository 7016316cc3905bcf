import { monthsOf } from '../../engine/window.ts';
import type { Window } from '../../jobs/messages.ts';

/**
 * advertiserInvoices.list takes one issue month (YYYYMM) a call, so a listing over a window walks the
 * months the window touches, each with its own pageToken chain. The engine's cursor carries both: the
 * month, and the page token inside it when there is one ("202405" or "202405:<pageToken>").
 */

/** Every YYYYMM from the window's first day's month to its last day's, ascending. */
export function issueMonths(window: Window): string[] {
  return monthsOf(window).map((m) => m.replace('-', ''));
}

export interface MonthCursor {
  month: string;
  pageToken?: string;
}

export function encodeCursor(c: MonthCursor): string {
  return c.pageToken ? `${c.month}:${c.pageToken}` : c.month;
}

/** The cursor of a listing message; undefined (the first page) is the window's first month. */
export function decodeCursor(cursor: string | undefined, months: readonly string[]): MonthCursor {
  if (cursor === undefined) {
    const first = months[0];
    if (!first) throw new Error('the window touches no issue month');
    return { month: first };
  }
  const m = /^(\d{6})(?::([\s\S]+))?$/.exec(cursor);
  if (!m || !months.includes(m[1]!)) {
    throw new Error(`cursor does not name an issue month of the window: ${cursor.slice(0, 20)}`);
  }
  return { month: m[1]!, ...(m[2] ? { pageToken: m[2] } : {}) };
}

/** Where the listing goes after a page: the month's next page, else the next month, else the end. */
export function nextCursor(
  months: readonly string[],
  month: string,
  pageToken: string | undefined,
): string | null {
  if (pageToken) return encodeCursor({ month, pageToken });
  const next = months[months.indexOf(month) + 1];
  return next ? encodeCursor({ month: next }) : null;
}
