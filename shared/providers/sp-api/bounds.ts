import type { Window } from '../../jobs/messages.ts';

const DAY_MS = 86_400_000;
const dayMs = (date: string) => Date.parse(`${date}T00:00:00Z`);
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** getInvoices bounds for a window. */
export interface DateBounds {
  dateStart: string;
  dateEnd: string;
}

/**
 * getInvoices' explicit date-times (UTC) for a window: the first second of `from` to the last of `to`, the
 * end held a minute behind now (the provider's default end is "now"; a future end buys nothing). Computed
 * once per run and carried in the listing's messages, so every page sends the same arguments.
 */
export function windowBounds(window: Window, now: Date): DateBounds {
  const start = dayMs(window.from);
  const end = Math.min(dayMs(window.to) + DAY_MS - 1000, now.getTime() - 60_000);
  return { dateStart: iso(start), dateEnd: iso(Math.max(start, end)) };
}

/**
 * createInvoicesExport's dates. The model types dateStart/dateEnd as dates, and its own example is
 * "2024-07-01T00:00:00", with no zone: that is what is sent (a zone the model does not document could be
 * read differently from the listing's UTC bounds). The end is the window's last day, whole.
 */
export function exportDates(window: Window): DateBounds {
  return { dateStart: `${window.from}T00:00:00`, dateEnd: `${window.to}T23:59:59` };
}
