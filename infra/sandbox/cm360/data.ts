import { createHash } from 'node:crypto';
import { createRng, formatMinorUnits, type Rng, type Seed } from '../framework/seed.ts';
import { invoicePdf } from './invoice-pdf.ts';

/**
 * Seeded CM360 billing data of one connection: its user profile, the profile's advertisers and, per
 * advertiser and issue month, the invoices advertiserInvoices.list answers. Money is int64 micros held as
 * BigInt; each invoice's amounts are the sums of its campaign summaries, so they agree to the micro.
 * Entities draw from forked streams, so the data of one month does not move when another month changes.
 */

/** How a billing profile invoices an advertiser; the API lists invoices only for the first two. */
export type BillingLevel = 'ADVERTISER' | 'CAMPAIGN' | 'CONSOLIDATED';

export interface SimCampaign {
  campaignId: string;
  billingInvoiceCode?: string;
}

export interface SimCampaignSummary extends SimCampaign {
  preTaxMicros: bigint;
  taxMicros: bigint;
}

export interface SimInvoice {
  id: string;
  advertiserId: string;
  /** YYYYMM */
  issueMonth: string;
  invoiceType: 'INVOICE_TYPE_INVOICE' | 'INVOICE_TYPE_CREDIT';
  /** YYYY-MM-DD, like every date of the invoice. */
  issueDate: string;
  dueDate: string;
  serviceStartDate: string;
  serviceEndDate: string;
  currencyCode: string;
  paymentsAccountId: string;
  paymentsProfileId: string;
  purchaseOrderNumber?: string;
  correctedInvoiceId?: string;
  replacedInvoiceIds?: string[];
  campaigns: SimCampaignSummary[];
  /** Amounts beyond 2^53 micros (a double would round them). */
  huge: boolean;
  /** A gap it is served with when switched on (settings campaignSumOff, pdfMissing). */
  flaw?: InvoiceFlaw;
}

/** `campaign-sum-off`: a summary's total one micro over; `pdf-missing`: its pdfUrl answers 404. */
export type InvoiceFlaw = 'campaign-sum-off' | 'pdf-missing';

export interface SimAdvertiser {
  id: string;
  name: string;
  status: 'APPROVED' | 'ON_HOLD';
  floodlightConfigurationId: string;
  billingLevel: BillingLevel;
  currencyCode: string;
  paymentsAccountId: string;
  campaigns: SimCampaign[];
  /** Issue month -> invoices in list order (issue date, then id); empty for a consolidated advertiser. */
  invoices: Map<string, SimInvoice[]>;
}

export interface SimProfile {
  connection: string;
  profileId: string;
  accountId: string;
  subaccountId: string;
  userName: string;
  paymentsProfileId: string;
  advertisers: SimAdvertiser[];
  /** Ascending YYYYMM. */
  issueMonths: string[];
}

export interface ProfileOptions {
  seed: Seed;
  connection: string;
  /** The connection's configured profile id; drawn from the seed when absent. */
  profileId?: string;
  /** Multiplies the invoices per advertiser and month. */
  size: number;
  advertisers: number;
  months: number;
  /** YYYYMM */
  lastIssueMonth: string;
  hugeAmounts: boolean;
  /** Invoices served with each flaw (see InvoiceFlaw); default none. */
  campaignSumOff?: number;
  pdfMissing?: number;
}

/** Micros: 1 currency unit is 1,000,000. */
const CENT = 10_000n;

/** Tax rate (basis points) and the micros of the currency's smallest unit (JPY has no cents). */
const CURRENCIES: ReadonlyArray<{ code: string; taxBp: bigint; unit: bigint }> = [
  { code: 'USD', taxBp: 0n, unit: CENT },
  { code: 'EUR', taxBp: 1_900n, unit: CENT },
  { code: 'GBP', taxBp: 2_000n, unit: CENT },
  { code: 'JPY', taxBp: 1_000n, unit: 100n * CENT },
  { code: 'BRL', taxBp: 0n, unit: CENT },
];
const CURRENCY = new Map(CURRENCIES.map((c) => [c.code, c]));
const currency = (code: string) => CURRENCY.get(code) ?? CURRENCIES[0]!;

const pad2 = (n: number) => String(n).padStart(2, '0');
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const DAY_MS = 86_400_000;

/** The month (YYYYMM) `delta` months from `month`. */
export function addMonths(month: string, delta: number): string {
  const index = Number(month.slice(0, 4)) * 12 + Number(month.slice(4)) - 1 + delta;
  return `${Math.floor(index / 12)}${pad2((index % 12) + 1)}`;
}

/** YYYYMM of an epoch ms (UTC). */
export function monthOf(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}${pad2(d.getUTCMonth() + 1)}`;
}

const monthStart = (month: string) => Date.UTC(Number(month.slice(0, 4)), Number(month.slice(4)) - 1, 1);

/** Payments ids as the invoice PDF prints them: groups of four digits. */
const grouped = (rng: Rng, groups: number) => Array.from({ length: groups }, () => rng.digits(4)).join('-');

/**
 * Tax of a pre-tax amount in whole units of the currency, truncated toward zero so a credit's tax mirrors
 * its invoice's.
 */
function taxOf(preTax: bigint, code: string): bigint {
  const { taxBp, unit } = currency(code);
  return ((preTax * taxBp) / 10_000n / unit) * unit;
}

export const subtotalMicros = (inv: SimInvoice): bigint =>
  inv.campaigns.reduce((n, c) => n + c.preTaxMicros, 0n);
export const taxMicros = (inv: SimInvoice): bigint => inv.campaigns.reduce((n, c) => n + c.taxMicros, 0n);
export const totalMicros = (inv: SimInvoice): bigint => subtotalMicros(inv) + taxMicros(inv);

/** Micros as an exact decimal string of the currency: 1234560000n -> "1234.560000". */
export const microsDecimal = (micros: bigint): string => formatMinorUnits(micros, 6);

/** A pre-tax amount in whole units of the currency, now and then with micros below the unit. */
function preTax(rng: Rng, code: string): bigint {
  const { unit } = currency(code);
  const micros = BigInt(rng.int(2_500, 2_500_000)) * (unit === CENT ? CENT : unit * 100n);
  return rng.bool(0.05) ? micros + BigInt(rng.int(1, Number(unit) - 1)) : micros;
}

/** `percent` of an amount, in whole units of the currency (the whole amount at 100). */
function share(micros: bigint, percent: number, code: string): bigint {
  if (percent >= 100) return micros;
  const { unit } = currency(code);
  return ((micros * BigInt(percent)) / 100n / unit) * unit;
}

function summary(campaign: SimCampaign, amount: bigint, currency: string): SimCampaignSummary {
  return {
    campaignId: campaign.campaignId,
    ...(campaign.billingInvoiceCode ? { billingInvoiceCode: campaign.billingInvoiceCode } : {}),
    preTaxMicros: amount,
    taxMicros: taxOf(amount, currency),
  };
}

function makeAdvertiser(rng: Rng, index: number, count: number, size: number): SimAdvertiser {
  const billingLevel: BillingLevel =
    index === count - 1 ? 'CONSOLIDATED' : index % 2 === 1 ? 'CAMPAIGN' : 'ADVERTISER';
  const campaignCount = Math.max(4, Math.ceil(6 * size)) + rng.int(0, 2);
  const name = rng.words(2).replace(/\b\w/g, (c) => c.toUpperCase());
  return {
    id: rng.digits(8),
    name: `${name} ${index + 1}`,
    status: rng.bool(0.85) ? 'APPROVED' : 'ON_HOLD',
    floodlightConfigurationId: rng.digits(8),
    billingLevel,
    currencyCode: index === 0 ? 'USD' : rng.pick(CURRENCIES).code,
    paymentsAccountId: grouped(rng, 4),
    campaigns: Array.from({ length: campaignCount }, () => ({
      campaignId: rng.digits(8),
      ...(rng.bool(0.4) ? { billingInvoiceCode: rng.id('BIC-', 6) } : {}),
    })),
    invoices: new Map(),
  };
}

/** The profile of one connection with every advertiser's invoices over the issue months. */
export function generateProfile(opts: ProfileOptions): SimProfile {
  const rng = createRng(`${opts.seed}/cm360/${opts.connection}`);
  const issueMonths = Array.from({ length: opts.months }, (_, i) =>
    addMonths(opts.lastIssueMonth, i - opts.months + 1),
  );
  const profile: SimProfile = {
    connection: opts.connection,
    profileId: opts.profileId ?? rng.digits(7),
    accountId: rng.digits(6),
    subaccountId: rng.digits(6),
    userName: `sandbox-${opts.connection}`,
    paymentsProfileId: grouped(rng, 3),
    advertisers: [],
    issueMonths,
  };
  const used = new Set<string>();
  const newId = (r: Rng) => {
    let id = r.digits(10);
    while (used.has(id)) id = r.digits(10);
    used.add(id);
    return id;
  };

  for (let a = 0; a < opts.advertisers; a++) {
    const arng = rng.fork(`advertiser:${a}`);
    const adv = makeAdvertiser(arng, a, opts.advertisers, opts.size);
    profile.advertisers.push(adv);
    if (adv.billingLevel === 'CONSOLIDATED') continue;
    const history: SimInvoice[] = [];
    issueMonths.forEach((month, m) => {
      const mrng = arng.fork(`month:${month}`);
      const start = monthStart(month);
      const serviceStart = day(monthStart(addMonths(month, -1)));
      const serviceEnd = day(start - DAY_MS);
      const base = (r: Rng, campaigns: SimCampaignSummary[], type: SimInvoice['invoiceType']): SimInvoice => {
        const issued = start + r.int(0, 4) * DAY_MS;
        return {
          id: newId(r),
          advertiserId: adv.id,
          issueMonth: month,
          invoiceType: type,
          issueDate: day(issued),
          dueDate: day(issued + 30 * DAY_MS),
          serviceStartDate: serviceStart,
          serviceEndDate: serviceEnd,
          currencyCode: adv.currencyCode,
          paymentsAccountId: adv.paymentsAccountId,
          paymentsProfileId: profile.paymentsProfileId,
          ...(r.bool(0.35) ? { purchaseOrderNumber: `PO-${r.digits(8)}` } : {}),
          campaigns,
          huge: false,
        };
      };
      const invoices: SimInvoice[] = [];
      if (adv.billingLevel === 'CAMPAIGN') {
        // One invoice per campaign that ran in the service month.
        const count = Math.min(adv.campaigns.length, Math.max(1, Math.round(mrng.int(2, 5) * opts.size)));
        for (const c of mrng.shuffle(adv.campaigns).slice(0, count)) {
          const r = mrng.fork(`campaign:${c.campaignId}`);
          invoices.push(
            base(r, [summary(c, preTax(r, adv.currencyCode), adv.currencyCode)], 'INVOICE_TYPE_INVOICE'),
          );
        }
      } else {
        const count = Math.max(1, Math.round(opts.size));
        for (let i = 0; i < count; i++) {
          const r = mrng.fork(`invoice:${i}`);
          const ran = r.shuffle(adv.campaigns).slice(0, r.int(2, Math.min(5, adv.campaigns.length)));
          invoices.push(
            base(
              r,
              ran.map((c) => summary(c, preTax(r, adv.currencyCode), adv.currencyCode)),
              'INVOICE_TYPE_INVOICE',
            ),
          );
        }
      }
      if (a === 0 && m === issueMonths.length - 1 && opts.hugeAmounts) {
        const inv = invoices[0]!;
        // 2^53 + 1 is the first integer a double cannot hold; the sum is far beyond it too.
        const first = 9_007_199_254_740_993n;
        const rest = 1_234_567_890_123_456_789n - first;
        inv.campaigns = [
          summary(inv.campaigns[0]!, first, adv.currencyCode),
          summary(inv.campaigns[1]!, rest, adv.currencyCode),
        ];
        inv.huge = true;
      }

      const earlier = history.filter((i) => i.invoiceType === 'INVOICE_TYPE_INVOICE' && !i.huge);
      const forced = a === 0;
      if (earlier.length > 0 && ((forced && m === 1) || mrng.bool(0.2))) {
        // A credit note giving back part of an earlier invoice, campaign by campaign.
        const r = mrng.fork('credit');
        const corrected = r.pick(earlier);
        const parts = corrected.campaigns.slice(0, r.int(1, corrected.campaigns.length));
        const credit = base(
          r,
          parts.map((c) =>
            summary(c, -share(c.preTaxMicros, r.int(5, 100), adv.currencyCode), adv.currencyCode),
          ),
          'INVOICE_TYPE_CREDIT',
        );
        credit.correctedInvoiceId = corrected.id;
        invoices.push(credit);
      }
      if (earlier.length > 1 && ((forced && m === 2) || mrng.bool(0.1))) {
        // A rebill replacing earlier invoices (several when they were consolidated into this one).
        const r = mrng.fork('rebill');
        const replaced = r.shuffle(earlier).slice(0, r.int(1, 2));
        const campaigns = new Map(replaced.flatMap((i) => i.campaigns).map((c) => [c.campaignId, c]));
        const rebill = base(
          r,
          [...campaigns.values()].map((c) => summary(c, preTax(r, adv.currencyCode), adv.currencyCode)),
          'INVOICE_TYPE_INVOICE',
        );
        rebill.replacedInvoiceIds = replaced.map((i) => i.id);
        invoices.push(rebill);
      }
      invoices.sort((x, y) => x.issueDate.localeCompare(y.issueDate) || x.id.localeCompare(y.id));
      adv.invoices.set(month, invoices);
      history.push(...invoices);
    });
  }
  markFlaws(profile, opts.campaignSumOff ?? 0, opts.pdfMissing ?? 0);
  return profile;
}

/**
 * Flawed invoices, newest issue month first (so any window that reaches back a month meets them), advertiser
 * and list order within: the sums first, then the PDFs, each invoice with one flaw at most. Marked after the
 * data is drawn, so switching a flaw on changes nothing else.
 */
function markFlaws(profile: SimProfile, campaignSumOff: number, pdfMissing: number): void {
  const order = [...profile.issueMonths]
    .reverse()
    .flatMap((month) => profile.advertisers.flatMap((a) => a.invoices.get(month) ?? []));
  order.slice(0, campaignSumOff).forEach((inv) => {
    inv.flaw = 'campaign-sum-off';
  });
  order.slice(campaignSumOff, campaignSumOff + pdfMissing).forEach((inv) => {
    inv.flaw = 'pdf-missing';
  });
}

export interface ExpectedInvoice {
  id: string;
  invoiceType: SimInvoice['invoiceType'];
  kind: 'invoice' | 'credit';
  issueDate: string;
  currencyCode: string;
  subtotalAmountMicros: string;
  totalTaxAmountMicros: string;
  totalAmountMicros: string;
  /** The same amounts as exact decimals of the currency (6 places). */
  subtotal: string;
  totalTax: string;
  total: string;
  purchaseOrderNumber?: string;
  correctedInvoiceId?: string;
  replacedInvoiceIds?: string[];
  campaignCount: number;
  pdf: { sha256: string; bytes: number };
  /** The gap this invoice is served with (settings campaignSumOff, pdfMissing). */
  flaw?: InvoiceFlaw;
}

/** What a client should end up with for one invoice. */
export function expectedInvoice(profile: SimProfile, inv: SimInvoice): ExpectedInvoice {
  const pdf = invoicePdf(profile, inv);
  const sub = subtotalMicros(inv);
  const tax = taxMicros(inv);
  return {
    id: inv.id,
    invoiceType: inv.invoiceType,
    kind: inv.invoiceType === 'INVOICE_TYPE_CREDIT' ? 'credit' : 'invoice',
    issueDate: inv.issueDate,
    currencyCode: inv.currencyCode,
    subtotalAmountMicros: sub.toString(),
    totalTaxAmountMicros: tax.toString(),
    totalAmountMicros: (sub + tax).toString(),
    subtotal: microsDecimal(sub),
    totalTax: microsDecimal(tax),
    total: microsDecimal(sub + tax),
    ...(inv.purchaseOrderNumber ? { purchaseOrderNumber: inv.purchaseOrderNumber } : {}),
    ...(inv.correctedInvoiceId ? { correctedInvoiceId: inv.correctedInvoiceId } : {}),
    ...(inv.replacedInvoiceIds ? { replacedInvoiceIds: inv.replacedInvoiceIds } : {}),
    campaignCount: inv.campaigns.length,
    ...(inv.flaw ? { flaw: inv.flaw } : {}),
    pdf: { sha256: createHash('sha256').update(pdf).digest('hex'), bytes: pdf.length },
  };
}

/**
 * Ground truth of one advertiser and issue month: the invoices in list order, or `consolidated` for the
 * advertiser whose invoices call fails (an unknown advertiser or a month without invoices gives []).
 */
export function expectedInvoices(
  profile: SimProfile,
  advertiserId: string,
  issueMonth: string,
): ExpectedInvoice[] | 'consolidated' {
  const adv = profile.advertisers.find((a) => a.id === advertiserId);
  if (adv?.billingLevel === 'CONSOLIDATED') return 'consolidated';
  return (adv?.invoices.get(issueMonth) ?? []).map((inv) => expectedInvoice(profile, inv));
}

export interface Cm360GroundTruth {
  connection: string;
  profileId: string;
  issueMonths: string[];
  advertisers: Array<{
    advertiserId: string;
    name: string;
    billingLevel: BillingLevel;
    currencyCode: string;
    /** Issue month -> expected invoices (absent for the consolidated advertiser, whose call fails). */
    invoices?: Record<string, ExpectedInvoice[]>;
  }>;
}

/** Everything a client of this connection should end up with. */
export function groundTruth(profile: SimProfile): Cm360GroundTruth {
  return {
    connection: profile.connection,
    profileId: profile.profileId,
    issueMonths: profile.issueMonths,
    advertisers: profile.advertisers.map((adv) => ({
      advertiserId: adv.id,
      name: adv.name,
      billingLevel: adv.billingLevel,
      currencyCode: adv.currencyCode,
      ...(adv.billingLevel === 'CONSOLIDATED'
        ? {}
        : {
            invoices: Object.fromEntries(
              [...adv.invoices].map(([month, list]) => [month, list.map((i) => expectedInvoice(profile, i))]),
            ),
          }),
    })),
  };
}
