import * as z from 'zod';
import { scheduleProblem } from './schedule.ts';

export const PROVIDERS = ['amazon-ads', 'amazon-business', 'sp-api', 'cm360'] as const;
export const providerIdSchema = z.enum(PROVIDERS);
export type ProviderId = z.infer<typeof providerIdSchema>;

const DATE_SHAPE = /^\d{4}-\d{2}-\d{2}$/;
/** A day of the calendar: Date alone takes 2026-02-31 and rolls it into March. A bad shape is the regex's. */
function isCalendarDateOrMisshapen(value: string): boolean {
  if (!DATE_SHAPE.test(value)) return true;
  const t = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(t.getTime()) && t.toISOString().slice(0, 10) === value;
}

const isoDate = z
  .string()
  .regex(DATE_SHAPE, 'expected a date as YYYY-MM-DD')
  .refine(isCalendarDateOrMisshapen, 'not a calendar date');

// Checked as EventBridge Scheduler checks it: a schedule it refuses would otherwise fail only at deploy time.
const scheduleSchema = z.string().superRefine((expression, ctx) => {
  const problem = scheduleProblem(expression);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

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
  /**
   * What a gap in a run's control totals makes of the run: PARTIAL (default: what landed stays, the gaps
   * are listed) or FAILED (for teams that want the FAILED alarm and consumers to wait).
   */
  onReconciliationGap: z.enum(['PARTIAL', 'FAILED']).default('PARTIAL'),
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
    /**
     * NA, EU or JP (hosts na|eu|jp.business-api.amazon.com). FE, the Amazon region enum's name for the Far
     * East, is taken as JP, so a connection may name it either way.
     */
    region: z.enum(['NA', 'EU', 'JP', 'FE']),
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

/** The smallest provider function timeout that leaves the frame a working budget (see timeoutSeconds). */
export const MIN_TIMEOUT_SECONDS = 60;

const providerSettingsSchema = z
  .object({
    /** Bound on concurrent function instances, and so on concurrent calls to the provider. */
    maxConcurrency: z.number().int().min(2).max(1000).default(2),
    /** Receives before a message is moved to the DLQ. */
    maxReceiveCount: z.number().int().min(1).max(1000).default(5),
    /**
     * Lambda timeout. At least 60 s: the handler frame stops starting provider calls 10 s before the timeout,
     * and the 50 s left must hold one call through its connect and header timeouts (10 s + 30 s,
     * shared/http/agent.ts) with time to spare; a shorter function would end every message by deferring it.
     */
    timeoutSeconds: z.number().int().min(MIN_TIMEOUT_SECONDS).max(900).default(120),
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
    const ids = new Set<string>();
    // One secret per connection: the stack creates each missing one under its name (two of one name fail the
    // deploy), and two connections on one existing secret would be one account fetched twice.
    const secretOwners = new Map<string, string>();
    config.connections.forEach((c, i) => {
      if (ids.has(c.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['connections', i, 'id'],
          message: `duplicate connection id "${c.id}"`,
        });
      }
      ids.add(c.id);
      const owner = secretOwners.get(c.secretName);
      if (owner !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['connections', i, 'secretName'],
          message: `secret "${c.secretName}" is already the secret of connection "${owner}"; each connection needs its own`,
        });
      } else secretOwners.set(c.secretName, c.id);
    });
  });
export type Config = z.infer<typeof configSchema>;

export function providerSettings(config: Config, provider: ProviderId): ProviderSettings {
  return providerSettingsSchema.parse(config.providers[provider] ?? {});
}
