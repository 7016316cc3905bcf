import { z } from 'zod';

const rate = z
  .object({
    /** Requests per simulated second. */
    rate: z.number().positive(),
    burst: z.number().int().min(1),
  })
  .strict();

/** Behaviour switches of the CM360 simulator: startSandbox options.cm360, or POST /__sandbox/settings. */
export const cm360SimSettingsSchema = z
  .object({
    /** Advertisers per connection's profile; the last one is billed on a consolidated invoice. */
    advertisers: z.number().int().min(2).max(50).default(4),
    /** Issue months with invoices, ending with `lastIssueMonth`. */
    months: z.number().int().min(1).max(36).default(6),
    /** YYYYMM; default the month before the simulator's start (a whole month of invoices issued). */
    lastIssueMonth: z
      .string()
      .regex(/^\d{4}(0[1-9]|1[0-2])$/, 'expected YYYYMM')
      .optional(),
    /** Most invoices or advertisers on one page, whatever maxResults asks (the API's default: 1000). */
    maxPageSize: z.number().int().min(1).max(1000).default(1000),
    /** Simulated seconds a pdfUrl works (the model: 7 days from the list call). */
    pdfUrlTtlSeconds: z
      .number()
      .int()
      .min(1)
      .default(7 * 86_400),
    /** One invoice per connection whose micros a double cannot hold. */
    hugeAmounts: z.boolean().default(true),
    /**
     * Control-totals gaps: this many invoices per connection list a campaign summary whose
     * totalAmountMicros is one micro more than its share (the invoice's own amounts stay right).
     */
    campaignSumOff: z.number().int().min(0).max(50).default(0),
    /** Control-totals gaps: this many other invoices per connection promise a pdfUrl that answers 404. */
    pdfMissing: z.number().int().min(0).max(50).default(0),
    /** Per profile and operation, answered 429 (read once, when the simulator starts). */
    rateLimit: rate.default({ rate: 5, burst: 20 }),
    /** Per user (connection) over every operation, answered 403 userRateLimitExceeded. */
    userQuota: rate.default({ rate: 10, burst: 40 }),
    /** For the whole project (every connection), answered 403 rateLimitExceeded. */
    projectQuota: rate.default({ rate: 50, burst: 200 }),
  })
  .strict();

export type Cm360SimSettings = z.output<typeof cm360SimSettingsSchema>;

/** Validates settings over a base; the error names each bad field. */
export function parseCm360SimSettings(raw: unknown, base: Partial<Cm360SimSettings> = {}): Cm360SimSettings {
  const result = cm360SimSettingsSchema.safeParse({ ...base, ...((raw as object | undefined) ?? {}) });
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `cm360 settings.${i.path.join('.')}: ${i.message}`);
  throw new Error(lines.join('; '));
}
