import { formatMinorUnits, hashUnit, type Seed } from '../framework/seed.ts';
import {
  amountText,
  type ConnectionData,
  consolidatedNumberAt,
  consolidationReadyAt,
  DAY_MS,
  REGIONS,
  type SimInvoice,
  type SimLine,
  type SimTransaction,
  sumOf,
} from './data.ts';

/** The model's shapes (Reconciliation 2021-01-08) for the seeded data, as seen at simulated time `at`. */

const iso = (ms: number) => new Date(ms).toISOString();
/** Whole seconds, as the model's orderDate example ("2022-03-29T18:46:51Z"). */
const isoSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
const abs = (v: bigint) => (v < 0n ? -v : v);

/** A rate in basis points as the model's strings: 825 -> "0.0825", 1000 -> "0.10", 0 -> "0.00". */
export function rateText(bp: number): string {
  return formatMinorUnits(bp, 4)
    .replace(/(\.\d\d\d?)0$/, '$1')
    .replace(/(\.\d\d)0$/, '$1');
}

function moneyOf(data: ConnectionData) {
  const region = REGIONS[data.region];
  return {
    price: (micros: bigint) => ({
      currencyCode: data.currency,
      amount: amountText(micros, region.priceScale),
    }),
    total: (micros: bigint) => ({
      currencyCode: data.currency,
      amount: amountText(micros, region.totalScale),
    }),
  };
}

/** What an invoice switched to invoiceTotalOff adds to its own total: one minor unit of its currency. */
export function offBy(data: ConnectionData, inv: SimInvoice): bigint {
  if (!inv.totalOff) return 0n;
  return data.region === 'JP' ? 1_000_000n : 10_000n;
}

function lineItemPayload(data: ConnectionData, tx: SimTransaction, line: SimLine): Record<string, unknown> {
  const m = moneyOf(data);
  const a = line.amounts;
  const item = line.item;
  return {
    totalAmount: m.total(a.total),
    principalAmount: m.price(a.principal),
    shippingCharge: m.price(a.shipping),
    ...(a.regulatoryFee !== 0n ? { regulatoryFee: m.price(a.regulatoryFee) } : {}),
    ...(a.giftWrap !== 0n ? { giftWrappingCharge: m.price(a.giftWrap) } : {}),
    discount: m.price(a.discount),
    tax: m.total(a.tax),
    unitPrice: m.price(a.unitPrice),
    taxRate: rateText(item.taxRateBp),
    orderId: item.orderId,
    unspsc: item.unspsc,
    orderLineItemId: item.orderLineItemId,
    purchaseOrderNumber: item.purchaseOrderNumber,
    asin: item.asin,
    productTitle: item.title,
    itemQuantity: a.quantity,
    shipmentId: item.shipmentId,
    shipmentDate: isoSeconds(item.shipmentDate),
    merchantLegalName: item.merchant,
    businessOrderInfo: {
      'Cost center': tx.purchasingCustomerGroupName,
      'GL code': `6${item.unspsc.slice(0, 3)}`,
    },
    ...(tx.refundReason ? { refundReason: tx.refundReason } : {}),
  };
}

/** A Transaction; invoiceNumber only once its invoice exists. */
export function transactionPayload(
  data: ConnectionData,
  tx: SimTransaction,
  at: number,
): Record<string, unknown> {
  const m = moneyOf(data);
  const inv = tx.invoice;
  const shipBp = data.region === 'NA' ? 0 : data.region === 'JP' ? 1000 : (inv.lines[0]?.item.taxRateBp ?? 0);
  return {
    marketplaceId: data.marketplaceId,
    transactionDate: iso(tx.transactionDate),
    feedDate: iso(tx.feedDate),
    transactionType: tx.type,
    transactionId: tx.transactionId,
    chargeIdentifier: tx.chargeIdentifier,
    shipTaxRate: rateText(shipBp),
    giftWrapTaxRate: rateText(0),
    legalEntityName: data.legalEntityName,
    purchasingCustomerGroupName: tx.purchasingCustomerGroupName,
    ...(inv.issuedAt <= at ? { invoiceNumber: inv.invoiceNumber } : {}),
    amount: m.total(sumOf(inv.lines, (a) => a.total) + (data.region === 'JP' ? 0n : offBy(data, inv))),
    paymentInstrumentType: tx.paymentInstrumentType,
    ...(tx.paymentInstrumentLast4Digits
      ? { paymentInstrumentLast4Digits: tx.paymentInstrumentLast4Digits }
      : {}),
    buyer: tx.buyer,
    payer: tx.paymentInstrumentType === 'PayByInvoice' ? data.payer : tx.buyer,
    associatedTransactionDetails: [],
    transactionLineItems: inv.lines.map((l) => lineItemPayload(data, tx, l)),
  };
}

function registrationNumber(name: string): string {
  return `T${String(Math.floor(hashUnit('jct', name) * 1e13)).padStart(13, '1')}`;
}

/** What the model marks "Available for JP region only": the invoice's own parties, lines, taxes and total. */
function jpFields(data: ConnectionData, inv: SimInvoice): Record<string, unknown> {
  // A credit memo prints positive amounts (the model's example); the REFUND transaction carries the sign.
  const yen = (micros: bigint) => ({ currencyCode: data.currency, amount: amountText(abs(micros), 1) });
  const byRate = new Map<number, { exclusive: bigint; tax: bigint }>();
  const addTax = (bp: number, exclusive: bigint, tax: bigint) => {
    const t = byRate.get(bp) ?? { exclusive: 0n, tax: 0n };
    byRate.set(bp, { exclusive: t.exclusive + abs(exclusive), tax: t.tax + abs(tax) });
  };
  const items = inv.lines.map((l) => {
    const a = l.amounts;
    const unitTax = abs(a.goodsTax) / BigInt(a.quantity);
    addTax(l.item.taxRateBp, a.principal, a.goodsTax);
    return {
      taxRate: rateText(l.item.taxRateBp).replace(/0$/, ''),
      unit: a.quantity,
      asin: l.item.asin,
      title: l.item.title,
      unitTaxInclusivePrice: yen(a.unitPrice + unitTax),
      unitTaxExclusivePrice: yen(a.unitPrice),
      unitTaxAmount: yen(unitTax),
      totalAmount: yen(abs(a.principal) + abs(a.goodsTax)),
      discount: yen(0n),
      apportionment: [
        {
          orderLineItemId: l.item.orderLineItemId,
          lineNumber: 1,
          units: a.quantity,
          unitPrice: yen(a.unitPrice),
          taxAmount: yen(unitTax),
        },
      ],
      fees: [],
    };
  });
  const shipping = sumOf(inv.lines, (a) => a.shipping);
  const shippingTax = sumOf(inv.lines, (a) => a.shippingTax);
  if (shipping !== 0n) addTax(1000, shipping, shippingTax);
  const fees =
    shipping === 0n
      ? []
      : [
          {
            feeType: 'SHIPPING',
            tax: {
              rate: '0.1',
              inclusiveTotal: yen(abs(shipping) + abs(shippingTax)),
              exclusiveTotal: yen(shipping),
              amount: yen(shippingTax),
            },
            discount: yen(0n),
            apportionment: [{ taxExclusiveFee: yen(shipping), taxAmount: yen(shippingTax) }],
          },
        ];
  const party = { name: inv.merchant, registrationNumber: registrationNumber(inv.merchant) };
  return {
    invoiceIssuer: party,
    billToAddress: {
      addressType: 'PhysicalAddress',
      fullName: data.payer.name,
      companyName: data.legalEntityName,
      phoneNumber: '81120899543',
      addressLine1: '1-8-1 Shimomeguro, Meguro-ku',
      city: 'Tokyo',
      stateOrRegion: 'Tokyo-to',
      postalCode: '153-0064',
      countryCode: 'JP',
    },
    sellerInformation: party,
    orderDate: isoSeconds(inv.orderDate),
    currencyCode: data.currency,
    invoiceTotal: amountText(abs(sumOf(inv.lines, (a) => a.total)) + offBy(data, inv), 1),
    tax: [...byRate.entries()]
      .sort(([a], [b]) => b - a)
      .map(([bp, t]) => ({
        rate: rateText(bp).replace(/0$/, ''),
        inclusiveTotal: yen(t.exclusive + t.tax),
        exclusiveTotal: yen(t.exclusive),
        amount: yen(t.tax),
      })),
    transactionDataItems: items,
    fees,
  };
}

/**
 * The InvoiceDetail entries of one order line item at `at`: its shipment's invoice and any credit memos,
 * once issued; all-null (the live quirk) while an invoice's `nullUntil` has not passed.
 */
export function invoiceDetailsOf(
  data: ConnectionData,
  invoices: readonly SimInvoice[],
  at: number,
): unknown[] {
  return invoices
    .filter((inv) => inv.issuedAt <= at)
    .map((inv) => {
      if (inv.nullUntil !== undefined && at < inv.nullUntil) {
        return { invoiceNumber: null, invoiceDate: null, invoiceType: null };
      }
      const consolidated = consolidatedNumberAt(data, inv, at);
      return {
        invoiceNumber: inv.invoiceNumber,
        invoiceDate: iso(inv.issuedAt),
        ...(consolidated ? { consolidatedInvoiceDetails: { invoiceNumber: consolidated } } : {}),
        invoiceType: inv.invoiceType,
        ...(inv.associated && data.associatedInvoiceNumbers
          ? {
              associatedInvoiceNumber: inv.associated.invoiceNumber,
              associatedInvoiceDate: iso(inv.associated.issuedAt),
            }
          : {}),
        ...(data.region === 'JP' ? jpFields(data, inv) : {}),
      };
    });
}

export type PaymentResult =
  | { invoiceId: string; resultType: 'SUCCESS'; paymentDetails: { status: string; dueDate: string } }
  | { invoiceId: string; resultType: 'ERROR'; error: { code: string; message: string } };

const PAYMENT_TERMS_DAYS = 30;

/**
 * Payment status of an invoice or consolidated invoice number at `at`. Due 30 days after issue (end of
 * that UTC day); 70% are paid 3 to 47 days after issue ("Payment Processing" the two days before),
 * the rest stay unpaid ("Past Due" after the due date). A seeded share of ids answer a per-invoice ERROR,
 * and so does any id that is unknown or not issued yet (a "Pending" consolidated number included).
 */
export function paymentResult(
  data: ConnectionData,
  invoiceId: string,
  at: number,
  seed: Seed,
  errorShare: number,
): PaymentResult {
  const inv = data.byNumber.get(invoiceId);
  const month = data.consolidatedMonths.get(invoiceId);
  let issuedAt: number | undefined;
  if (inv && inv.issuedAt <= at) issuedAt = inv.issuedAt;
  if (month) {
    const readyAt = consolidationReadyAt(Date.parse(`${month}-01T00:00:00Z`), data.consolidationDelayDays);
    if (readyAt <= at) issuedAt = readyAt;
  }
  if (issuedAt === undefined) {
    return {
      invoiceId,
      resultType: 'ERROR',
      error: { code: 'INVOICE_NOT_FOUND', message: `No invoice was found for invoice ID ${invoiceId}.` },
    };
  }
  const roll = (what: string) => hashUnit(seed, 'amazon-business', data.connection, what, invoiceId);
  if (roll('payment-error') < errorShare) {
    return {
      invoiceId,
      resultType: 'ERROR',
      error: {
        code: 'PAYMENT_DETAILS_UNAVAILABLE',
        message: 'Payment details cannot be retrieved for this invoice.',
      },
    };
  }
  const dueDay = new Date(issuedAt + PAYMENT_TERMS_DAYS * DAY_MS).toISOString().slice(0, 10);
  const due = Date.parse(`${dueDay}T23:59:59Z`);
  const paidAt = roll('paid') < 0.7 ? issuedAt + (3 + Math.floor(roll('paid-day') * 45)) * DAY_MS : undefined;
  const status =
    inv?.invoiceType === 'CREDIT_MEMO' || (paidAt !== undefined && at >= paidAt)
      ? 'Closed'
      : paidAt !== undefined && at >= paidAt - 2 * DAY_MS
        ? 'Payment Processing'
        : at > due
          ? 'Past Due'
          : 'Issued';
  return { invoiceId, resultType: 'SUCCESS', paymentDetails: { status, dueDate: isoSeconds(due) } };
}
