import { z } from 'zod';

/** Behaviour switches of the SP-API simulator: startSandbox options['sp-api'], or POST /__sandbox/settings. */
export const spSimSettingsSchema = z
  .object({
    /** Invoices per connection and marketplace (multiplied by the sandbox size). */
    invoices: z.number().int().min(0).max(1_000_000).default(60),
    /** Invoices are spread over this many days before the simulator's start. */
    days: z.number().int().min(1).max(400).default(40),
    /** Marketplaces each connection sells in. */
    marketplaces: z.array(z.string().min(1)).min(1).default(['A2Q3Y263D00KWC']),
    /** Most invoices on one page, whatever pageSize asks (the model: at most 100). */
    maxPageSize: z.number().int().min(1).max(100).default(100),
    /** Every Nth page of a listing comes back empty with a nextToken (0: never). */
    emptyPageEvery: z.number().int().min(0).default(0),
    /** Simulated seconds an export takes (REQUESTED for the first tenth, then PROCESSING). */
    exportSeconds: z.number().min(0).default(120),
    /** Exports created from now on end in ERROR (besides the fault injector's exportFailureRate). */
    failExports: z.boolean().default(false),
    /** XML invoices per ZIP document. */
    invoicesPerDocument: z.number().int().min(1).default(500),
    /** Simulated seconds a document URL lives (the model: 30). */
    documentUrlTtlSeconds: z.number().int().min(1).default(30),
    /** Documents of exports created from now on are unsafe archives of this kind. */
    unsafeZip: z.enum(['none', 'traversal', 'bomb', 'entries']).default('none'),
    /** Tiny extra entries in an `entries` archive. */
    extraEntries: z.number().int().min(1).default(3_000),
    /** Inflated bytes of the `bomb` entry. */
    bombBytes: z
      .number()
      .int()
      .min(1)
      .default(32 * 1024 * 1024),
    /** Gaps the control totals must name (gaps.ts): authorized invoices, taken from the oldest. Off by default. */
    gaps: z
      .object({
        /** This many have no XML in the exports. */
        missingXml: z.number().int().min(0).default(0),
        /** The next this many have an XML whose vNF is one cent more than its parts. */
        nfeTotalOff: z.number().int().min(0).default(0),
        /** The next this many are in the exports but never listed by getInvoices. */
        unlisted: z.number().int().min(0).default(0),
      })
      .strict()
      .default({ missingXml: 0, nfeTotalOff: 0, unlisted: 0 }),
  })
  .strict();

export type SpSimSettings = z.output<typeof spSimSettingsSchema>;

/** Validates settings over a base; the error names each bad field. */
export function parseSpSimSettings(raw: unknown, base: Partial<SpSimSettings> = {}): SpSimSettings {
  const result = spSimSettingsSchema.safeParse({ ...base, ...((raw as object | undefined) ?? {}) });
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `sp-api settings.${i.path.join('.')}: ${i.message}`);
  throw new Error(lines.join('; '));
}
