import { createRng, formatMinorUnits, type Rng, type Seed } from '../framework/seed.ts';

/**
 * Seeded purchases of one Amazon Business customer in one region: orders of 1 to 5 line items shipped in
 * 1 or 2 shipments, one STANDARD invoice per shipment (so an invoice covers several line items), a CHARGE
 * transaction per invoice, and for some shipments a later REFUND transaction with its CREDIT_MEMO. Every
 * amount is an integer number of micros (BigInt); a transaction's amount and an invoice's total are sums
 * of its lines, so the ground truth adds up exactly.
 *
 * What depends on the simulated clock (the rules tests rely on, all fixed by the seed):
 * - an invoice exists from `issuedAt`; some of the last week's shipments are invoiced only 1 to 4 days
 *   after the data's end ("no invoice yet" until then);
 * - some invoices answer all-null details (invoiceNumber, invoiceDate, invoiceType) until `nullUntil`,
 *   1 to `nullDetailsDays` days after the data's end (amzn/selling-partner-api-models#2631);
 * - a consolidated order's invoices name the consolidated invoice of their calendar month (UTC), which is
 *   "Pending" until `consolidationReadyAt`: `consolidationDelayDays` after that month ends;
 * - a transaction is listed from its `feedDate` on.
 */

export type BusinessRegion = 'NA' | 'EU' | 'JP';

export const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

interface Product {
  title: string;
  unspsc: string;
}

interface RegionProfile {
  marketplaceId: string;
  currency: string;
  /** Decimals the API prints unit prices, principal, shipping and discounts with. */
  priceScale: number;
  /** Decimals of taxes and totals (four in NA and EU: tax is rounded to 1/100 of a cent). */
  totalScale: number;
  taxRatesBp: readonly number[];
  orderPrefixes: readonly string[];
  merchants: readonly string[];
  entitySuffix: string;
  products: readonly Product[];
}

// biome-ignore format: catalogues read better in rows
export const REGIONS: Record<BusinessRegion, RegionProfile> = {
  NA: {
    marketplaceId: 'ATVPDKIKX0DER', currency: 'USD', priceScale: 2, totalScale: 4,
    taxRatesBp: [0, 600, 725, 825, 1025],
    orderPrefixes: ['111', '112', '113', '114'],
    merchants: ['Amazon.com Services LLC', 'Office Depot Inc', 'Uline Shipping Supplies'],
    entitySuffix: 'LLC',
    products: [
      { title: 'Ticonderoga #2 Pencils, 96-Count', unspsc: '44121700' },
      { title: 'HP 414A Toner Cartridge, Black', unspsc: '44103103' },
      { title: 'Copy Paper, 8.5 x 11, 10 Reams', unspsc: '14111507' },
      { title: 'USB-C Docking Station, Dual 4K', unspsc: '43211600' },
      { title: 'Ergonomic Mesh Office Chair', unspsc: '56101504' },
      { title: 'Nitrile Exam Gloves, 1000 ct', unspsc: '42132203' },
    ],
  },
  EU: {
    marketplaceId: 'A1PA6795UKMFR9', currency: 'EUR', priceScale: 4, totalScale: 4,
    taxRatesBp: [1900, 1900, 700],
    orderPrefixes: ['302', '303', '304', '305', '306'],
    merchants: ['Amazon EU S.a.r.l.', 'Bürobedarf Müller GmbH', 'Lager & Logistik KG'],
    entitySuffix: 'GmbH',
    products: [
      { title: 'Kopierpapier A4, 80 g/m², 2500 Blatt', unspsc: '14111507' },
      { title: 'Leitz Ordner 180°, 8 cm, 10 Stück', unspsc: '44122003' },
      { title: 'Kaffeebohnen Crema, 1 kg', unspsc: '50201706' },
      { title: 'Monitor 27 Zoll, IPS, USB-C', unspsc: '43211902' },
      { title: 'Fachbuch: Umsatzsteuer 2025', unspsc: '55101509' },
    ],
  },
  JP: {
    marketplaceId: 'A1VC38T7P3XVM7', currency: 'JPY', priceScale: 1, totalScale: 1,
    taxRatesBp: [1000, 1000, 800],
    orderPrefixes: ['249', '250', '503'],
    merchants: ['アマゾンジャパン合同会社', 'Mizuta', 'アスクル株式会社'],
    entitySuffix: '株式会社',
    products: [
      { title: 'コピー用紙 A4 500枚×5冊', unspsc: '14111507' },
      { title: 'ショウワノート 文具パック', unspsc: '44121700' },
      { title: 'ボールペン 0.5mm 黒 10本', unspsc: '44121704' },
      { title: 'お茶 ペットボトル 500ml×24本', unspsc: '50202301' },
      { title: 'USBメモリ 64GB', unspsc: '43202005' },
    ],
  },
};

/** What a line item is, whatever transaction it appears in. */
export interface SimItem {
  orderId: string;
  orderLineItemId: string;
  shipmentId: string;
  asin: string;
  title: string;
  unspsc: string;
  merchant: string;
  purchaseOrderNumber: string;
  taxRateBp: number;
  shipmentDate: number;
}

/** A line item's amounts in one transaction, in micros; negative in a refund. */
export interface SimAmounts {
  quantity: number;
  unitPrice: bigint;
  principal: bigint;
  shipping: bigint;
  giftWrap: bigint;
  regulatoryFee: bigint;
  discount: bigint;
  /** Tax of the goods (JP: quantity times the unit tax). */
  goodsTax: bigint;
  /** Tax of the shipping charge (EU and JP; NA ships untaxed). */
  shippingTax: bigint;
  tax: bigint;
  total: bigint;
}

export interface SimLine {
  item: SimItem;
  amounts: SimAmounts;
}

export interface SimParty {
  id: string;
  name: string;
  email: string;
}

export interface SimInvoice {
  invoiceNumber: string;
  invoiceType: 'STANDARD' | 'CREDIT_MEMO';
  /** Epoch ms; may lie after the data's end: the invoice does not exist before. */
  issuedAt: number;
  orderId: string;
  orderDate: number;
  lines: SimLine[];
  /** A credit memo's invoice. */
  associated?: { invoiceNumber: string; issuedAt: number };
  consolidated: boolean;
  /** Invoice details answer all-null before this (epoch ms). */
  nullUntil?: number;
  merchant: string;
  transactionId: string;
  /** Says it comes to one minor unit more than its lines (settings invoiceTotalOff). */
  totalOff?: boolean;
}

export interface SimTransaction {
  transactionId: string;
  chargeIdentifier: string;
  type: 'CHARGE' | 'REFUND';
  transactionDate: number;
  feedDate: number;
  invoice: SimInvoice;
  refundReason?: string;
  paymentInstrumentType: string;
  paymentInstrumentLast4Digits: string;
  buyer: SimParty;
  purchasingCustomerGroupName: string;
}

export interface ConnectionData {
  connection: string;
  region: BusinessRegion;
  marketplaceId: string;
  currency: string;
  legalEntityName: string;
  payer: SimParty;
  /** Epoch ms the seeded data ends at. */
  end: number;
  consolidationDelayDays: number;
  associatedInvoiceNumbers: boolean;
  /** By feedDate, then transactionId. */
  transactions: SimTransaction[];
  /** STANDARD and CREDIT_MEMO invoices by issuedAt. */
  invoices: SimInvoice[];
  byNumber: Map<string, SimInvoice>;
  /** Invoices of a line item (key: lineKey), by issuedAt. */
  byLineItem: Map<string, SimInvoice[]>;
  /** Consolidated number of a month ("2025-07") and back. */
  consolidatedNumbers: Map<string, string>;
  consolidatedMonths: Map<string, string>;
  /** Line items no invoice lists (settings lineWithoutInvoice), with the invoice that left them out. */
  linesWithoutInvoice: Array<{ line: SimLine; invoice: SimInvoice }>;
}

export interface GenerateOptions {
  seed: Seed;
  connection: string;
  region: BusinessRegion;
  orders: number;
  days: number;
  end: number;
  consolidatedShare: number;
  consolidationDelayDays: number;
  creditMemoShare: number;
  nullDetailsShare: number;
  nullDetailsDays: number;
  uninvoicedShare: number;
  associatedInvoiceNumbers: boolean;
  /** Control-totals gaps served (see settings.ts); default none. */
  invoiceTotalOff?: number;
  lineWithoutInvoice?: number;
}

export const lineKey = (l: { orderId: string; orderLineItemId: string; shipmentId: string }) =>
  `${l.orderId}\u0000${l.orderLineItemId}\u0000${l.shipmentId}`;

const UPPER = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789';
const MIXED = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789';

function chars(rng: Rng, alphabet: string, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += alphabet[rng.int(0, alphabet.length - 1)];
  return out;
}

function invoiceNumberOf(rng: Rng, region: BusinessRegion): string {
  if (region === 'NA') return `${chars(rng, UPPER, 4)}-${chars(rng, UPPER, 4)}-${chars(rng, UPPER, 4)}`;
  if (region === 'EU') return `DE${chars(rng, UPPER, 9)}`;
  return `JP${chars(rng, UPPER, 10)}`;
}

/** First instant of the UTC month after `ms`'s, as epoch ms, and the month's "YYYY-MM" label. */
function monthOf(ms: number): { label: string; next: number } {
  const d = new Date(ms);
  return {
    label: d.toISOString().slice(0, 7),
    next: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
  };
}

/** When an invoice issued at `issuedAt` gets its consolidated number instead of "Pending". */
export function consolidationReadyAt(issuedAt: number, delayDays: number): number {
  return monthOf(issuedAt).next + delayDays * DAY_MS;
}

/** The consolidated invoice number a consolidated invoice names at `at`: the number, or "Pending". */
export function consolidatedNumberAt(data: ConnectionData, inv: SimInvoice, at: number): string | null {
  if (!inv.consolidated) return null;
  if (at < consolidationReadyAt(inv.issuedAt, data.consolidationDelayDays)) return 'Pending';
  return data.consolidatedNumbers.get(monthOf(inv.issuedAt).label)!;
}

/** Whole-micros rounding of base * bp / 10000 to 1/10^scale, half up (base >= 0). */
function taxOf(base: bigint, bp: number, scale: number): bigint {
  const unit = 10n ** BigInt(6 - scale);
  const exactTimes10k = base * BigInt(bp);
  const step = unit * 10_000n;
  return ((exactTimes10k + step / 2n) / step) * unit;
}

const MICROS = 1_000_000n;

function amountsOf(
  region: BusinessRegion,
  quantity: number,
  unitPrice: bigint,
  bp: number,
  extras: { shipping: bigint; giftWrap: bigint; regulatoryFee: bigint; discount: bigint },
): SimAmounts {
  const principal = unitPrice * BigInt(quantity);
  let goodsTax: bigint;
  let shippingTax = 0n;
  if (region === 'JP') {
    // Consumption tax per unit, whole yen (the guide's apportionment shows a unit tax amount).
    goodsTax = (((unitPrice / MICROS) * BigInt(bp)) / 10_000n) * MICROS * BigInt(quantity);
    shippingTax = (((extras.shipping / MICROS) * 1000n) / 10_000n) * MICROS;
  } else if (region === 'EU') {
    goodsTax = taxOf(principal + extras.discount, bp, 4);
    shippingTax = taxOf(extras.shipping, bp, 4);
  } else {
    goodsTax = taxOf(principal + extras.discount, bp, 4);
  }
  const tax = goodsTax + shippingTax;
  return {
    quantity,
    unitPrice,
    principal,
    ...extras,
    goodsTax,
    shippingTax,
    tax,
    total: principal + extras.shipping + extras.giftWrap + extras.regulatoryFee + extras.discount + tax,
  };
}

function lineFor(rng: Rng, region: BusinessRegion, bp: number): SimAmounts {
  const quantity = rng.weighted([
    [1, 50],
    [2, 20],
    [3, 10],
    [5, 10],
    [12, 10],
  ] as const);
  if (region === 'JP') {
    const unitPrice = BigInt(rng.int(120, 45_000)) * MICROS;
    const shipping = rng.bool(0.4) ? BigInt(rng.int(350, 800)) * MICROS : 0n;
    return amountsOf(region, quantity, unitPrice, bp, {
      shipping,
      giftWrap: 0n,
      regulatoryFee: 0n,
      discount: 0n,
    });
  }
  if (region === 'EU') {
    // Net prices to a hundredth of a cent, as net-of-VAT catalogue prices come out.
    const unitPrice = BigInt(rng.int(19_900, 4_999_999)) * 100n;
    const shipping = rng.bool(0.35) ? BigInt(rng.int(290, 990)) * 10_000n : 0n;
    const principal = unitPrice * BigInt(quantity);
    const discount = rng.bool(0.15) ? -((principal / 10n / 100n) * 100n) : 0n;
    return amountsOf(region, quantity, unitPrice, bp, {
      shipping,
      giftWrap: 0n,
      regulatoryFee: 0n,
      discount,
    });
  }
  const unitPrice = BigInt(rng.int(199, 49_999)) * 10_000n;
  const shipping = rng.bool(0.4) ? BigInt(rng.int(299, 1_299)) * 10_000n : 0n;
  const principal = unitPrice * BigInt(quantity);
  const discount = !rng.bool(0.2) ? 0n : shipping > 0n ? -shipping : -((principal / 20n / 10_000n) * 10_000n);
  const giftWrap = rng.bool(0.05) ? 3_990_000n : 0n;
  const regulatoryFee = rng.bool(0.04) ? BigInt(rng.int(10, 150)) * 10_000n : 0n;
  return amountsOf(region, quantity, unitPrice, bp, { shipping, giftWrap, regulatoryFee, discount });
}

/** Refund of `quantity` units of a charged line: the whole line negated, or the goods part recomputed. */
function refundOf(region: BusinessRegion, charged: SimAmounts, quantity: number, bp: number): SimAmounts {
  const neg = (a: SimAmounts): SimAmounts =>
    Object.fromEntries(
      Object.entries(a).map(([k, v]) => [k, typeof v === 'bigint' && k !== 'unitPrice' ? -v : v]),
    ) as unknown as SimAmounts;
  if (quantity === charged.quantity) return neg(charged);
  const part = amountsOf(region, quantity, charged.unitPrice, bp, {
    shipping: 0n,
    giftWrap: 0n,
    regulatoryFee: 0n,
    discount: 0n,
  });
  return neg(part);
}

const PEOPLE = ['Avery Chen', 'Jordan Patel', 'Sam Okafor', 'Riley Novak', 'Kai Tanaka', 'Mila Weber'];
const GROUPS = ['Finance', 'Operations', 'Facilities', 'IT', 'Marketing'];
const CARDS = ['Visa', 'MasterCard', 'AmericanExpress'];
const REFUND_REASONS = ['Customer return', 'Item damaged in transit', 'Price adjustment', 'Wrong item sent'];

function party(rng: Rng, name: string): SimParty {
  return {
    id: `amzn1.account.${chars(rng, UPPER, 28)}`,
    name,
    email: `${name.toLowerCase().replace(/\s+/g, '.')}@example.com`,
  };
}

export function generateConnectionData(o: GenerateOptions): ConnectionData {
  const region = REGIONS[o.region];
  const rng = createRng(`${o.seed}/amazon-business/${o.connection}/${o.region}`);
  const legalEntityName = `${capitalize(rng.word())} ${capitalize(rng.word())} ${region.entitySuffix}`;
  const buyers = PEOPLE.slice(0, 4).map((n) => party(rng, n));
  const payer = party(rng, 'Accounts Payable');
  const used = new Set<string>();
  const newNumber = (r: Rng) => {
    let n = invoiceNumberOf(r, o.region);
    while (used.has(n)) n = invoiceNumberOf(r, o.region);
    used.add(n);
    return n;
  };
  const start = o.end - o.days * DAY_MS;
  const transactions: SimTransaction[] = [];
  const invoices: SimInvoice[] = [];

  for (let i = 0; i < o.orders; i++) {
    const r = rng.fork(`order:${i}`);
    const orderDate = r.int(start, o.end - HOUR_MS);
    const orderId = `${r.pick(region.orderPrefixes)}-${r.digits(7)}-${r.digits(7)}`;
    const consolidated = r.bool(o.consolidatedShare);
    const buyer = r.pick(buyers);
    const group = r.pick(GROUPS);
    const card = consolidated ? 'PayByInvoice' : r.pick(CARDS);
    const last4 = consolidated ? '' : r.digits(4);
    const poNumber = r.bool(0.4) ? `PO-${r.digits(6)}` : '';
    const itemCount = r.weighted([
      [1, 45],
      [2, 25],
      [3, 15],
      [4, 10],
      [5, 5],
    ] as const);
    const split = itemCount > 1 && r.bool(0.3) ? r.int(1, itemCount - 1) : itemCount;
    const groups = [
      [0, split],
      [split, itemCount],
    ].filter(([a, b]) => b! > a!);

    groups.forEach(([from, to], s) => {
      const shipmentId = chars(r, MIXED, 9);
      const shipDate = orderDate + r.int(2 * HOUR_MS, 72 * HOUR_MS) + s * DAY_MS;
      const lines: SimLine[] = [];
      for (let k = from!; k < to!; k++) {
        const product = r.pick(region.products);
        const bp = r.pick(region.taxRatesBp);
        const item: SimItem = {
          orderId,
          orderLineItemId: r.digits(14),
          shipmentId,
          asin: `B0${chars(r, UPPER, 8)}`,
          title: product.title,
          unspsc: product.unspsc,
          merchant: r.pick(region.merchants),
          purchaseOrderNumber: poNumber,
          taxRateBp: bp,
          shipmentDate: shipDate,
        };
        lines.push({ item, amounts: lineFor(r, o.region, bp) });
      }
      // Every draw happens whichever branches below are taken, so changing one share (say creditMemoShare)
      // does not reshuffle the rest of the data.
      const invoiceDelay = r.int(0, 6 * HOUR_MS);
      const lateInvoice = r.bool(o.uninvoicedShare);
      const lateBy = r.int(DAY_MS, 4 * DAY_MS);
      const nullDetails = r.bool(o.nullDetailsShare);
      const nullBy = r.int(1, o.nullDetailsDays) * DAY_MS - r.int(0, HOUR_MS);
      const chargeLag = r.int(0, 2 * HOUR_MS);
      const feedLag = r.int(HOUR_MS, 36 * HOUR_MS);
      const refund = r.bool(o.creditMemoShare);
      const refundLine = r.int(0, lines.length - 1);
      const refundAfter = r.int(DAY_MS, 20 * DAY_MS);
      const refundFeedLag = r.int(HOUR_MS, 36 * HOUR_MS);
      const refundReason = r.pick(REFUND_REASONS);
      const refundQty = r.int(1, lines[refundLine]!.amounts.quantity);
      const ids = { tx: chars(r, MIXED, 20), charge: chars(r, UPPER, 9) };
      const refundIds = { tx: chars(r, MIXED, 20), charge: chars(r, UPPER, 9) };
      const merchant = lines[0]!.item.merchant;
      if (shipDate >= o.end) return;

      let issuedAt = shipDate + invoiceDelay;
      if (shipDate > o.end - 7 * DAY_MS && lateInvoice) issuedAt = o.end + lateBy;
      const invoice: SimInvoice = {
        invoiceNumber: newNumber(r.fork(`invoice:${s}`)),
        invoiceType: 'STANDARD',
        issuedAt,
        orderId,
        orderDate,
        lines,
        consolidated,
        ...(issuedAt < o.end && nullDetails ? { nullUntil: o.end + nullBy } : {}),
        merchant,
        transactionId: ids.tx,
      };
      invoices.push(invoice);
      const transactionDate = shipDate + chargeLag;
      const common = {
        paymentInstrumentType: card,
        paymentInstrumentLast4Digits: last4,
        buyer,
        purchasingCustomerGroupName: group,
      };
      transactions.push({
        transactionId: ids.tx,
        chargeIdentifier: ids.charge,
        type: 'CHARGE',
        transactionDate,
        feedDate: transactionDate + feedLag,
        invoice,
        ...common,
      });

      const refundAt = issuedAt + refundAfter;
      if (!refund || refundAt >= o.end) return;
      const line = lines[refundLine]!;
      const memo: SimInvoice = {
        invoiceNumber: newNumber(r.fork(`memo:${s}`)),
        invoiceType: 'CREDIT_MEMO',
        issuedAt: refundAt,
        orderId,
        orderDate,
        lines: [
          { item: line.item, amounts: refundOf(o.region, line.amounts, refundQty, line.item.taxRateBp) },
        ],
        associated: { invoiceNumber: invoice.invoiceNumber, issuedAt: invoice.issuedAt },
        consolidated,
        merchant: line.item.merchant,
        transactionId: refundIds.tx,
      };
      invoices.push(memo);
      transactions.push({
        transactionId: refundIds.tx,
        chargeIdentifier: refundIds.charge,
        type: 'REFUND',
        transactionDate: refundAt,
        feedDate: refundAt + refundFeedLag,
        invoice: memo,
        refundReason,
        ...common,
      });
    });
  }

  transactions.sort((a, b) => a.feedDate - b.feedDate || (a.transactionId < b.transactionId ? -1 : 1));
  invoices.sort((a, b) => a.issuedAt - b.issuedAt || (a.invoiceNumber < b.invoiceNumber ? -1 : 1));
  const byNumber = new Map(invoices.map((inv) => [inv.invoiceNumber, inv]));
  const byLineItem = new Map<string, SimInvoice[]>();
  for (const inv of invoices) {
    for (const l of inv.lines) {
      const key = lineKey(l.item);
      byLineItem.set(key, [...(byLineItem.get(key) ?? []), inv]);
    }
  }
  const consolidatedNumbers = new Map<string, string>();
  const consolidatedMonths = new Map<string, string>();
  for (const inv of invoices) {
    const month = monthOf(inv.issuedAt).label;
    if (!inv.consolidated || consolidatedNumbers.has(month)) continue;
    const number = newNumber(
      createRng(`${o.seed}/amazon-business/${o.connection}/${o.region}/consolidated/${month}`),
    );
    consolidatedNumbers.set(month, number);
    consolidatedMonths.set(number, month);
  }
  const data: ConnectionData = {
    connection: o.connection,
    region: o.region,
    marketplaceId: region.marketplaceId,
    currency: region.currency,
    legalEntityName,
    payer,
    end: o.end,
    consolidationDelayDays: o.consolidationDelayDays,
    associatedInvoiceNumbers: o.associatedInvoiceNumbers,
    transactions,
    invoices,
    byNumber,
    byLineItem,
    consolidatedNumbers,
    consolidatedMonths,
    linesWithoutInvoice: [],
  };
  markFlaws(data, o.invoiceTotalOff ?? 0, o.lineWithoutInvoice ?? 0);
  return data;
}

/**
 * Invoices and line items served with a control-totals gap, the oldest first among those a run of the
 * data's window lands whole (invoiced, details not null, no credit memo of their own), each invoice with
 * one flaw at most. Marked after the data is drawn, so switching a flaw on changes nothing else.
 */
function markFlaws(data: ConnectionData, totalOff: number, withoutInvoice: number): void {
  const credited = new Set(data.invoices.map((i) => i.associated?.invoiceNumber).filter(Boolean));
  const plain = data.invoices.filter(
    (i) =>
      i.invoiceType === 'STANDARD' &&
      i.nullUntil === undefined &&
      !credited.has(i.invoiceNumber) &&
      i.issuedAt < data.end - 21 * DAY_MS,
  );
  const split = plain.filter((i) => i.lines.length > 1).slice(0, withoutInvoice);
  for (const invoice of split) {
    const line = invoice.lines.at(-1)!;
    data.byLineItem.delete(lineKey(line.item));
    data.linesWithoutInvoice.push({ line, invoice });
  }
  for (const invoice of plain.filter((i) => !split.includes(i)).slice(0, totalOff)) invoice.totalOff = true;
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** Micros as the API prints them: exactly `scale` decimals ("12.3456", JPY "1751.0"). */
export function amountText(micros: bigint, scale: number): string {
  const unit = 10n ** BigInt(6 - scale);
  if (micros % unit !== 0n) throw new RangeError(`${micros} micros do not fit ${scale} decimals`);
  return formatMinorUnits(micros / unit, scale);
}

/** Micros as a canonical exact decimal: no trailing zeros ("12.3", "-5", "0"). */
export function decimal(micros: bigint): string {
  return formatMinorUnits(micros, 6).replace(/\.?0+$/, '');
}

export const sumOf = (lines: readonly SimLine[], pick: (a: SimAmounts) => bigint): bigint =>
  lines.reduce((n, l) => n + pick(l.amounts), 0n);
