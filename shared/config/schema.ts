import { z } from 'zod';

export const PROVIDERS = ['amazon-ads', 'amazon-business', 'sp-api', 'cm360'] as const;
export const providerIdSchema = z.enum(PROVIDERS);
export type ProviderId = z.infer<typeof providerIdSchema>;

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date as YYYY-MM-DD');

// EventBridge accepts rate(N unit) and six-field cron(...); anything else fails at deploy time, so catch it here.
const scheduleSchema = z
  .string()
  .regex(
    /^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\((\S+ ){5}\S+\))$/,
    'expected an EventBridge expression such as "rate(1 day)" or "cron(0 6 * * ? *)"',
  );

const httpsUrl = z.url({ protocol: /^https?$/ });

const endpointsSchema = z
  .object({
    /** Base URL of the provider API (no trailing slash). */
    api: httpsUrl.optional(),
    /** OAuth token endpoint. */
    token: httpsUrl.optional(),
    /** Extra hosts download links may point at (besides the provider's own allowlist). */
    downloadHosts: z.array(z.string().min(1)).optional(),
  })
  .strict();

const common = {
  /** Stable id: used in S3 keys, queue messages, the state table and resource names. */
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'expected lowercase letters, digits and dashes, at most 40'),
  /** Secrets Manager secret that holds this connection's credentials (JSON). */
  secretName: z.string().min(1).max(512),
  /** Set when the secret already exists; otherwise the stack creates it empty. */
  existingSecret: z.boolean().default(false),
  scopes: z.union([z.literal('discover'), z.array(z.string().min(1)).min(1)]),
  schedule: scheduleSchema,
  /** Days re-read before the watermark on every run, so status changes are picked up again. */
  lookbackDays: z.number().int().min(1).max(400),
  /** First run with no watermark starts here (default: today less lookbackDays). */
  backfillFrom: isoDate.optional(),
  endpoints: endpointsSchema.optional(),
  enabled: z.boolean().default(true),
};

const amazonRegion = z.enum(['NA', 'EU', 'FE']);

export const amazonAdsConnectionSchema = z
  .object({
    ...common,
    provider: z.literal('amazon-ads'),
    region: amazonRegion,
    /** Global account id (Amazon-Ads-AccountId) for the billing statements report; no report without it. */
    globalAccountId: z.string().min(1).optional(),
    locale: z
      .string()
      .regex(/^[a-z]{2}_[A-Z]{2}$/)
      .default('en_US'),
    countryCodes: z
      .array(z.string().regex(/^[A-Z]{2}$/))
      .max(30)
      .optional(),
  })
  .strict();

export const amazonBusinessConnectionSchema = z
  .object({
    ...common,
    provider: z.literal('amazon-business'),
    region: amazonRegion,
  })
  .strict();

export const spApiConnectionSchema = z
  .object({
    ...common,
    provider: z.literal('sp-api'),
    region: z.literal('NA'),
    /** getInvoices filters, checked against getInvoicesAttributes at run time. */
    filters: z
      .object({
        transactionType: z.string().optional(),
        transactionIdentifierName: z.string().optional(),
        transactionIdentifierId: z.string().optional(),
        series: z.string().optional(),
        statuses: z.array(z.string()).optional(),
        invoiceType: z.string().optional(),
        dateType: z.string().optional(),
      })
      .strict()
      .default({}),
    pageSize: z.number().int().min(1).max(200).default(100),
  })
  .strict();

export const cm360ConnectionSchema = z
  .object({
    ...common,
    provider: z.literal('cm360'),
    region: z.literal('global').default('global'),
    /** CM360 user profile id the API calls are made under. */
    profileId: z.string().regex(/^\d+$/),
  })
  .strict();

export const connectionSchema = z.discriminatedUnion('provider', [
  amazonAdsConnectionSchema,
  amazonBusinessConnectionSchema,
  spApiConnectionSchema,
  cm360ConnectionSchema,
]);
export type Connection = z.infer<typeof connectionSchema>;
export type ConnectionOf<P extends ProviderId> = Extract<Connection, { provider: P }>;

const providerSettingsSchema = z
  .object({
    /** Bound on concurrent function instances, and so on concurrent calls to the provider. */
    maxConcurrency: z.number().int().min(2).max(1000).default(2),
    /** Receives before a message is moved to the DLQ. */
    maxReceiveCount: z.number().int().min(1).max(1000).default(5),
    timeoutSeconds: z.number().int().min(10).max(900).default(120),
    memoryMb: z.number().int().min(128).max(10240).default(512),
  })
  .strict();
export type ProviderSettings = z.infer<typeof providerSettingsSchema>;

export const configSchema = z
  .object({
    $schema: z.string().optional(),
    providers: z.partialRecord(providerIdSchema, providerSettingsSchema).default({}),
    connections: z.array(connectionSchema).min(1),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.connections.forEach((c, i) => {
      if (seen.has(c.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['connections', i, 'id'],
          message: `duplicate connection id "${c.id}"`,
        });
      }
      seen.add(c.id);
    });
  });
export type Config = z.infer<typeof configSchema>;

export function providerSettings(config: Config, provider: ProviderId): ProviderSettings {
  return providerSettingsSchema.parse(config.providers[provider] ?? {});
}
