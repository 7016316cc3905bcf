import { z } from 'zod';

/** Invoice ids, or how many of the latest issued invoices. */
const gapPick = z.union([z.number().int().min(0).max(1000), z.array(z.string().min(1))]).optional();

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
    /**
     * Disagreements between the API and the billing statement, for control totals (all off by default):
     * each names invoices by id, or asks for that many of the connection's latest issued ones (see gaps.ts).
     */
    gaps: z
      .object({
        /** In the statement, left out of /invoices (and answered 404 by id). */
        notInApi: gapPick,
        /** Listed by /invoices, left out of the statement. */
        notInReport: gapPick,
        /** The statement's invoice total one minor unit more than the API's amountDue. */
        amountOff: gapPick,
        /** The statement's tax one minor unit more than the API's taxAmountDue. */
        taxOff: gapPick,
        /** The statement's currency another than the API's. */
        currencyOff: gapPick,
        /** The promised PDF is offered by GetDocument, and its link answers 404. */
        missingPdf: gapPick,
        /** The promised PDF is not offered by GetDocument (listed unavailable). */
        unofferedPdf: gapPick,
      })
      .strict()
      .default({}),
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
