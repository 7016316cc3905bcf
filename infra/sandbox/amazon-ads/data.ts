import { createHash } from 'node:crypto';
import { createRng, formatMinorUnits, type Rng, type Seed } from '../framework/seed.ts';

/**
 * Seeded Amazon Ads billing data per connection: billing profiles (and one campaign-only profile that
 * `apiProgram=billing` must leave out), invoices with their lines, taxes, fees, payments and documents.
 * Everything is fixed by (seed, connection id, size), so a run can be replayed and a test can ask the
 * simulator what it should have received.
 */

export interface SimMoney {
  units: bigint;
  scale: number;
  currency: string;
}

export interface SimLine {
  campaignId: number;
  campaignName: string;
  program: string;
  units: bigint;
  events: number;
  priceType: 'CPC' | 'CPM';
}

export interface SimInvoice {
  id: string;
  profileId: string;
  country: string;
  currency: string;
  scale: number;
  invoiceDate: string;
  fromDate: string;
  toDate: string;
  dueDate: string;
  status: string;
  credit: boolean;
  subtotal: bigint;
  tax: bigint;
  remaining: bigint;
  taxRateBp: number;
  fees: Array<{ feeType: string; units: bigint }>;
  lines: SimLine[];
  purchaseOrderNumber?: string;
  paymentMethod: string;
  paymentTermsDays: number;
  /** Government invoice (Brazil, Mexico): pre-signed PDF and XML links in the detail. */
  government?: { id: string; transactionType: 'CREDIT' | 'DEBIT' };
}

export interface SimProfile {
  profileId: string;
  countryCode: string;
  currencyCode: string;
  timezone: string;
  name: string;
  /** Profiles with billing permission: the ones `apiProgram=billing` lists. */
  billing: boolean;
  invoices: SimInvoice[];
}

export interface ConnectionData {
  connection: string;
  profiles: SimProfile[];
  byInvoiceId: Map<string, SimInvoice>;
}

const MARKETS = [
  { country: 'US', currency: 'USD', scale: 2, taxBp: 0, tz: 'America/Los_Angeles' },
  { country: 'BR', currency: 'BRL', scale: 2, taxBp: 1425, tz: 'America/Sao_Paulo' },
  { country: 'UK', currency: 'GBP', scale: 2, taxBp: 2000, tz: 'Europe/London' },
  { country: 'JP', currency: 'JPY', scale: 0, taxBp: 1000, tz: 'Asia/Tokyo' },
  { country: 'MX', currency: 'MXN', scale: 2, taxBp: 1600, tz: 'America/Los_Angeles' },
  { country: 'DE', currency: 'EUR', scale: 2, taxBp: 1900, tz: 'Europe/Paris' },
] as const;

const GOVERNMENT_COUNTRIES = new Set(['BR', 'MX']);
/** Invoices per billing profile at size 1: several pages for the first, under one page for the last. */
const BASE_INVOICES = [150, 100, 60];
const PROGRAMS = ['SPONSORED PRODUCT', 'SPONSORED BRANDS', 'SPONSORED DISPLAY'];

const DAY_MS = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

function splitUnits(rng: Rng, total: bigint, parts: number): bigint[] {
  if (parts <= 1 || total === 0n) return [total];
  const out: bigint[] = [];
  let left = total;
  for (let i = 0; i < parts - 1; i++) {
    const share = (left * BigInt(rng.int(10, 60))) / 100n;
    out.push(share);
    left -= share;
  }
  out.push(left);
  return out;
}

function pickStatus(rng: Rng, ageDays: number): string {
  if (ageDays < 25 && rng.bool(0.5)) return rng.pick(['ACCUMULATING', 'PROCESSING']);
  return rng.weighted([
    ['PAID_IN_FULL', 60],
    ['ISSUED', 22],
    ['PAID_IN_PART', 10],
    ['WRITTEN_OFF', 3],
  ] as const);
}

export interface DataOptions {
  seed: Seed;
  size: number;
  /** The "today" invoices are dated back from: the sandbox's start (the pinned `clock`, else the real time). */
  today: number;
  profiles?: number;
  /** One invoice per connection whose amount a double cannot hold (12345678901234567.89). */
  hugeAmount?: boolean;
}

function makeInvoice(
  rng: Rng,
  profile: SimProfile,
  market: (typeof MARKETS)[number],
  seq: number,
  today: number,
): SimInvoice {
  const age = rng.int(1, 540);
  const invoiceMs = today - age * DAY_MS;
  const periodDays = rng.int(7, 30);
  const status = pickStatus(rng, age);
  const credit = rng.bool(0.08);
  const sign = credit ? -1n : 1n;
  const subtotal = sign * BigInt(rng.int(500, 2_500_000));
  const tax = (subtotal * BigInt(market.taxBp)) / 10_000n;
  const total = subtotal + tax;
  const remaining =
    status === 'PAID_IN_FULL' || status === 'WRITTEN_OFF'
      ? 0n
      : status === 'PAID_IN_PART'
        ? (total * BigInt(rng.int(10, 90))) / 100n
        : total;
  const lines = splitUnits(rng, subtotal, rng.int(1, 4)).map((units, i) => ({
    campaignId: rng.int(100_000_000, 999_999_999),
    campaignName: i === 0 && rng.bool(0.2) ? `Spring, "${rng.word()}" sale` : `${rng.words(2)} campaign`,
    program: rng.pick(PROGRAMS),
    units,
    events: rng.int(10, 90_000),
    priceType: rng.pick(['CPC', 'CPM'] as const),
  }));
  const fees = rng.bool(0.3) ? [{ feeType: 'PLATFORM_FEE', units: sign * BigInt(rng.int(10, 5_000)) }] : [];
  const id = `${market.country}${rng.id('', 7)}${String(seq).padStart(4, '0')}`;
  return {
    id,
    profileId: profile.profileId,
    country: market.country,
    currency: market.currency,
    scale: market.scale,
    invoiceDate: day(invoiceMs),
    fromDate: day(invoiceMs - periodDays * DAY_MS),
    toDate: day(invoiceMs - DAY_MS),
    dueDate: day(invoiceMs + 30 * DAY_MS),
    status,
    credit,
    subtotal,
    tax,
    remaining,
    taxRateBp: market.taxBp,
    fees,
    lines,
    ...(rng.bool(0.3) ? { purchaseOrderNumber: `PO-${rng.digits(8)}` } : {}),
    paymentMethod: rng.pick(['CREDIT_CARD', 'ELECTRONIC_FUNDS_TRANSFER', 'UNIFIED_BILLING']),
    paymentTermsDays: 30,
    ...(GOVERNMENT_COUNTRIES.has(market.country)
      ? { government: { id: `${rng.digits(9)}`, transactionType: credit ? 'CREDIT' : 'DEBIT' } as const }
      : {}),
  };
}

export function connectionData(connection: string, options: DataOptions): ConnectionData {
  const rng = createRng(`${options.seed}/amazon-ads/${connection}`);
  const billingProfiles = options.profiles ?? 3;
  const profiles: SimProfile[] = [];
  for (let p = 0; p <= billingProfiles; p++) {
    const market = MARKETS[p % MARKETS.length]!;
    const prng = rng.fork(`profile:${p}`);
    const profile: SimProfile = {
      profileId: prng.digits(15),
      countryCode: market.country,
      currencyCode: market.currency,
      timezone: market.tz,
      name: `${prng.words(2)} ${market.country}`,
      billing: p < billingProfiles,
      invoices: [],
    };
    if (profile.billing) {
      const base = BASE_INVOICES[p % BASE_INVOICES.length]!;
      const count = Math.max(1, Math.round(base * options.size));
      for (let i = 0; i < count; i++) {
        profile.invoices.push(makeInvoice(prng.fork(`invoice:${i}`), profile, market, i, options.today));
      }
      profile.invoices.sort((a, b) =>
        a.invoiceDate === b.invoiceDate ? a.id.localeCompare(b.id) : a.invoiceDate < b.invoiceDate ? 1 : -1,
      );
    }
    profiles.push(profile);
  }
  const first = profiles[0]?.invoices.find((i) => i.status === 'PAID_IN_FULL' && !i.credit);
  if (options.hugeAmount !== false && first) {
    first.subtotal = 1_234_567_890_123_456_789n;
    first.tax = 0n;
    first.fees = [];
    first.lines = first.lines.slice(0, 1).map((l) => ({ ...l, units: first.subtotal }));
  }
  const byInvoiceId = new Map<string, SimInvoice>();
  for (const p of profiles) for (const inv of p.invoices) byInvoiceId.set(inv.id, inv);
  return { connection, profiles, byInvoiceId };
}

export const total = (inv: SimInvoice): bigint => inv.subtotal + inv.tax;

export function decimal(units: bigint, scale: number): string {
  return formatMinorUnits(units, scale);
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The documents GetDocument offers for an invoice (none while it is still accumulating or processing). */
export function billingDocTypes(inv: SimInvoice): string[] {
  if (inv.status === 'ACCUMULATING' || inv.status === 'PROCESSING') return [];
  return [inv.credit ? 'CREDIT_MEMO' : 'INVOICE'];
}

/** A small, deterministic PDF for one document of an invoice (valid header and trailer, varied length). */
export function pdfBytes(inv: SimInvoice, kind: string): Buffer {
  const rng = createRng(`pdf/${inv.id}/${kind}`);
  const body = [
    '%PDF-1.4',
    `% sandbox ${kind} for invoice ${inv.id} (${inv.currency} ${decimal(total(inv), inv.scale)})`,
    '1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj',
    '2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj',
    `% ${rng.hex(rng.int(2_000, 30_000))}`,
    'trailer << /Root 1 0 R >>',
    '%%EOF',
    '',
  ].join('\n');
  return Buffer.from(body, 'latin1');
}

export function governmentXml(inv: SimInvoice): Buffer {
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>\n<governmentInvoice id="${inv.government?.id ?? ''}" country="${inv.country}">` +
      `<invoice>${inv.id}</invoice><type>${inv.government?.transactionType ?? ''}</type>` +
      `<total currency="${inv.currency}">${decimal(total(inv), inv.scale)}</total></governmentInvoice>\n`,
    'utf8',
  );
}
