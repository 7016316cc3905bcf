import { z } from 'zod';

/** Behaviour switches of the Amazon Ads simulator: startSandbox options, or POST /__sandbox/settings. */
export const adsSimSettingsSchema = z
  .object({
    /** `wrapped`: `{status, payload}` as the guide and live answers; `unwrapped`: the model's shape; `alternate`: both, turn about. */
    answerShape: z.enum(['wrapped', 'unwrapped', 'alternate']).default('wrapped'),
    /** Most summaries on one page, whatever `count` asks (servers may send fewer; clients follow nextCursor). */
    pageSize: z.number().int().min(1).max(100).default(100),
    /** Simulated seconds a billing statement takes to generate. */
    statementSeconds: z.number().min(0).default(300),
    /** The id field of CreateBillingStatement's 202 (the model says billingStatementRequestId). */
    statementIdField: z
      .enum(['billingStatementRequestId', 'billingStatementId'])
      .default('billingStatementRequestId'),
    /** Date format CreateBillingStatement accepts (the model's schema and its error example disagree). */
    statementDateFormat: z.enum(['yyyyMMdd', 'yyyy-MM-dd', 'either']).default('yyyyMMdd'),
    /** Simulated seconds the billing document links live. */
    documentLinkTtlSeconds: z.number().int().min(1).default(900),
    /** Simulated seconds the government document links live. */
    governmentLinkTtlSeconds: z.number().int().min(1).default(3600),
    /** Simulated seconds the statement's s3DownloadLink lives (about 3 hours, PROVIDER-NOTES). */
    statementLinkTtlSeconds: z.number().int().min(1).default(10_800),
    /** Government links of these invoices (or all, and statement links, `true`) point at a host no allowlist has. */
    foreignLinks: z.union([z.boolean(), z.array(z.string())]).default(false),
    /** Invoices whose summary (no amountDue) or detail (no invoiceLines) does not fit the model. */
    malformed: z.record(z.string(), z.enum(['summary', 'detail'])).default({}),
    /** Billing profiles per connection. */
    profiles: z.number().int().min(1).max(20).default(3),
    /** One invoice per connection whose amount a double cannot hold. */
    hugeAmount: z.boolean().default(true),
  })
  .strict();

export type AdsSimSettings = z.output<typeof adsSimSettingsSchema>;

/** Validates settings; the error names each bad field. */
export function parseAdsSimSettings(raw: unknown, base: Partial<AdsSimSettings> = {}): AdsSimSettings {
  const result = adsSimSettingsSchema.safeParse({ ...base, ...((raw as object | undefined) ?? {}) });
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `amazon-ads settings.${i.path.join('.')}: ${i.message}`);
  throw new Error(lines.join('; '));
}
