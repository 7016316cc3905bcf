import { z } from 'zod';

const share = z.number().min(0).max(1);

/** Behaviour switches of the Amazon Business simulator: startSandbox options['amazon-business'], or POST /__sandbox/settings. */
export const businessSimSettingsSchema = z
  .object({
    /** Orders per connection (multiplied by the sandbox size); each has 1 to 5 line items in 1 or 2 shipments. */
    orders: z.number().int().min(0).max(1_000_000).default(200),
    /** Orders are spread over this many days before the data's end. */
    days: z.number().int().min(7).max(400).default(45),
    /**
     * Where the seeded data ends (ISO date-time). Default: midnight UTC of the simulated day the simulator
     * starts on, so two runs on the same day see the same dates; pin it for byte-identical data.
     */
    end: z.iso.datetime({ offset: true }).optional(),
    /** Transactions per getTransactions page. */
    pageSize: z.number().int().min(1).max(1000).default(100),
    /** Region of a connection (NA, EU, JP) by id; otherwise the connection's config region (FE is JP), else NA. */
    regions: z.record(z.string(), z.enum(['NA', 'EU', 'JP'])).default({}),
    /** `reject`: a nextPageToken sent with any other parameter is a 400 (the model: "the only parameter"). */
    mixedPageToken: z.enum(['reject', 'accept']).default('reject'),
    /** Share of orders on periodic consolidation: their invoices name a monthly consolidated invoice. */
    consolidatedShare: share.default(0.35),
    /** A month's consolidated number replaces "Pending" this many simulated days after the month ends. */
    consolidationDelayDays: z.number().int().min(0).max(60).default(3),
    /** Share of shipments with one line item refunded later (a REFUND transaction and a CREDIT_MEMO). */
    creditMemoShare: share.default(0.12),
    /** Share of issued invoices whose details come back all-null until 1 to `nullDetailsDays` days after the data's end. */
    nullDetailsShare: share.default(0.06),
    nullDetailsDays: z.number().int().min(1).max(30).default(3),
    /** Share of the last week's shipments with no invoice yet (issued 1 to 4 days after the data's end). */
    uninvoicedShare: share.default(0.3),
    /**
     * Share of invoice ids getBatchInvoicePaymentDetails answers with a per-invoice ERROR result: each such
     * invoice is a control-totals gap (payment-missing), so the default is none.
     */
    paymentErrorShare: share.default(0),
    /**
     * Control-totals gaps: this many invoices per connection say they come to one minor unit (a cent, a
     * yen) more than their line items: the CHARGE transaction's amount, or JP's invoiceTotal.
     */
    invoiceTotalOff: z.number().int().min(0).max(50).default(0),
    /**
     * Control-totals gaps: this many line items per connection (of shipments at least three weeks before the
     * data's end) that no invoice ever lists: their invoice details stay empty, the rest of the shipment is
     * invoiced.
     */
    lineWithoutInvoice: z.number().int().min(0).max(50).default(0),
    /** Regions whose credit memos carry associatedInvoiceNumber/Date (the model: "Available for JP region only"). */
    associatedInvoiceRegions: z.array(z.enum(['NA', 'EU', 'JP'])).default(['JP']),
  })
  .strict();

export type BusinessSimSettings = z.output<typeof businessSimSettingsSchema>;

/** Validates settings over a base; the error names each bad field. */
export function parseBusinessSimSettings(
  raw: unknown,
  base: Partial<BusinessSimSettings> = {},
): BusinessSimSettings {
  const result = businessSimSettingsSchema.safeParse({ ...base, ...((raw as object | undefined) ?? {}) });
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `amazon-business settings.${i.path.join('.')}: ${i.message}`);
  throw new Error(lines.join('; '));
}
