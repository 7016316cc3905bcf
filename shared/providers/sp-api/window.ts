import type { Window } from '../../jobs/messages.ts';
import type { StateStore } from '../types.ts';
import type { SpApiConnection } from './http.ts';

const DAY_MS = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const dayMs = (date: string) => Date.parse(`${date}T00:00:00Z`);

/** A run's window when the message has none: (watermark, else backfillFrom, else today) less lookbackDays, to today. */
export async function defaultWindow(
  connection: SpApiConnection,
  marketplaceId: string,
  state: StateStore,
  now: Date,
): Promise<Window> {
  const today = day(now.getTime());
  const watermark = await state.getWatermark('sp-api', connection.id, marketplaceId);
  const base = watermark ?? connection.backfillFrom ?? today;
  const from = day(Math.min(dayMs(base), dayMs(today)) - connection.lookbackDays * DAY_MS);
  return { from, to: today };
}

/** getInvoices / createInvoicesExport bounds for a window. */
export interface DateBounds {
  dateStart: string;
  dateEnd: string;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The window's explicit date-times (UTC): the first second of `from` to the last of `to`, the end held
 * a minute behind now (the provider's default end is "now"; a future end buys nothing). Computed once
 * per run and carried in the fetch messages, so every page of a listing sends the same arguments.
 */
export function windowBounds(window: Window, now: Date): DateBounds {
  const start = dayMs(window.from);
  const end = Math.min(dayMs(window.to) + DAY_MS - 1000, now.getTime() - 60_000);
  return { dateStart: iso(start), dateEnd: iso(Math.max(start, end)) };
}
