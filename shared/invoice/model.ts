import * as z from 'zod';
import { providerIdSchema } from '../config/schema.ts';

const decimal = z.string().regex(/^-?\d+(\.\d+)?$/, 'expected an exact decimal string');
const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD');

export const invoiceDocumentSchema = z.object({
  type: z.string().min(1),
  key: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().min(0),
});
export type InvoiceDocument = z.infer<typeof invoiceDocumentSchema>;

/** One line of a normalized month file (DESIGN.md "Normalized invoice"). */
export const normalizedInvoiceSchema = z.object({
  provider: providerIdSchema,
  connection: z.string().min(1),
  account: z.string().min(1),
  invoiceId: z.string().min(1),
  invoiceNumber: z.string().nullable(),
  kind: z.enum(['INVOICE', 'CREDIT_NOTE', 'OTHER']),
  status: z.string().nullable(),
  issuedOn: date,
  dueOn: date.nullable(),
  servicePeriod: z.object({ from: date.nullable(), to: date.nullable() }),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/)
    .nullable(),
  subtotal: decimal.nullable(),
  tax: decimal.nullable(),
  total: decimal.nullable(),
  amountDue: decimal.nullable(),
  remainingDue: decimal.nullable(),
  purchaseOrderNumber: z.string().nullable(),
  correctsInvoiceId: z.string().nullable(),
  replacesInvoiceIds: z.array(z.string()),
  documents: z.array(invoiceDocumentSchema),
  rawKey: z.string().min(1),
  fetchedAt: z.iso.datetime({ offset: true }),
});
export type NormalizedInvoice = z.infer<typeof normalizedInvoiceSchema>;

/** YYYY-MM-DD that names a day of the calendar (Date.parse alone takes 2026-02-31). */
export function isCalendarDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const t = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(t.getTime()) && t.toISOString().slice(0, 10) === value;
}

/** YYYYMMDD (Amazon Ads) or YYYY-MM-DD or an ISO date-time, to YYYY-MM-DD. */
export function toIsoDate(value: string, field = 'date'): string {
  const compact = /^(\d{4})(\d{2})(\d{2})$/.exec(value);
  const iso = /^(\d{4})-(\d{2})-(\d{2})(?:T.*)?$/.exec(value);
  const m = compact ?? iso;
  if (!m) throw new Error(`${field}: not a date: ${JSON.stringify(value)}`);
  const [, y, mo, d] = m;
  const check = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d)) {
    throw new Error(`${field}: not a calendar date: ${JSON.stringify(value)}`);
  }
  return `${y}-${mo}-${d}`;
}
