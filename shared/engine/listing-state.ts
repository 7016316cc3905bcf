import * as z from 'zod';

const count = z.number().int().min(0).catch(0);

/**
 * The engine's part of a fetch message's `state`: which job, the arguments prepare() computed for the
 * scope, and where in the listing the work stands (the page's cursor travels in `cursor`; `page` numbers
 * the raw page files, `skip` is how many items of that page are done, `transient` counts hand-overs
 * after 5xx/network failures in a row, and which month files to publish at the end).
 */
export const listingStateSchema = z.object({
  job: z.string().min(1).optional(),
  args: z.record(z.string(), z.unknown()).catch({}).default({}),
  page: count.default(0),
  skip: count.default(0),
  transient: count.default(0),
  invoiceId: z.string().min(1).optional(),
  /** Months (YYYY-MM) whose files the listing changed so far: published once, when it ends. */
  months: z
    .array(z.string().regex(/^\d{4}-\d{2}$/))
    .catch([])
    .default([]),
  /** Set once every page is done: only these months' files are left to publish. */
  publishing: z.boolean().catch(false).default(false),
});
export type ListingState = z.infer<typeof listingStateSchema>;

export function listingState(state: Record<string, unknown> | undefined): ListingState {
  return listingStateSchema.parse(state ?? {});
}
