import { type ConnectionData, decimal, type SimInvoice, total } from './data.ts';
import type { GapInvoices } from './gaps.ts';
import { JsonNumber } from './json-number.ts';

/** Model payloads (invoiceSummary, invoice, Profile) built from the seeded data. */

const compact = (isoDay: string) => isoDay.replace(/-/g, '');

function money(units: bigint, inv: SimInvoice) {
  return { amount: new JsonNumber(decimal(units, inv.scale)), currencyCode: inv.currency };
}

export function summaryPayload(inv: SimInvoice) {
  const docs =
    inv.status === 'ACCUMULATING' || inv.status === 'PROCESSING'
      ? []
      : [inv.credit ? 'CREDIT_NOTE' : 'INVOICE'];
  const open = inv.remaining !== 0n;
  return {
    id: inv.id,
    status: inv.status,
    invoiceDate: compact(inv.invoiceDate),
    fromDate: compact(inv.fromDate),
    toDate: compact(inv.toDate),
    dueDate: compact(inv.dueDate),
    amountDue: money(total(inv), inv),
    remainingAmountDue: money(inv.remaining, inv),
    taxAmountDue: money(inv.tax, inv),
    remainingTaxAmountDue: money(open ? inv.tax : 0n, inv),
    taxRate: inv.taxRateBp / 10_000,
    fees: inv.fees.map((f) => ({ feeType: f.feeType, cost: money(f.units, inv) })),
    remainingFees: open ? inv.fees.map((f) => ({ feeType: f.feeType, cost: money(f.units, inv) })) : [],
    downloadableDocuments: docs,
    paymentMethod: inv.paymentMethod,
    paymentTermsDays: inv.paymentTermsDays,
    paymentTermsType: 'NET',
    billingAggregation: { billingLevel: 'ACCOUNT' },
    ...(inv.purchaseOrderNumber ? { purchaseOrderNumber: inv.purchaseOrderNumber } : {}),
  };
}

const contact = (company: string, country: string) => ({
  address: {
    addressLine1: '410 Terry Ave N',
    addressLine2: '',
    addressLine3: '',
    city: 'Seattle',
    companyName: company,
    countryCode: country,
    postalCode: '98109',
    stateOrRegion: 'WA',
  },
  email: { displayName: company, emailAddress: 'billing@example.com' },
});

export function detailPayload(inv: SimInvoice, government?: { pdf: string; xml: string }) {
  const paid = total(inv) - inv.remaining;
  return {
    invoiceSummary: summaryPayload(inv),
    invoiceLines: inv.lines.map((l) => ({
      campaignId: l.campaignId,
      campaignName: l.campaignName,
      name: l.campaignName,
      programName: l.program,
      cost: money(l.units, inv),
      costEventCount: l.events,
      costEventType: l.priceType === 'CPC' ? 'CLICKS' : 'IMPRESSIONS',
      costPerUnit: 0.5,
      priceType: l.priceType,
      fees: [],
    })),
    adjustments: [],
    payments:
      paid !== 0n
        ? [{ id: 1, amount: money(paid, inv), paymentMethod: inv.paymentMethod, status: 'SUCCEEDED' }]
        : [],
    portfolios: [],
    promotions: [],
    taxDetail: {
      taxCalculationDate: compact(inv.invoiceDate),
      taxBreakups:
        inv.tax !== 0n
          ? [
              {
                issuerJurisdiction: inv.country,
                issuerTaxInformation: { taxId: 'SANDBOX-TAX-1' },
                payerJurisdiction: inv.country,
                payerTaxInformation: {},
                taxAmount: money(inv.tax, inv),
                taxName: 'VAT',
                taxRate: inv.taxRateBp / 10_000,
                taxedJurisdictionName: inv.country,
              },
            ]
          : [],
    },
    issuerContactInfo: contact('Amazon Ads (sandbox)', inv.country),
    payerContactInfo: contact('Sandbox Advertiser', inv.country),
    thirdPartyContactInfo: [],
    ...(inv.government && government
      ? {
          governmentInvoiceInformation: {
            countryCode: inv.country,
            governmentInvoiceId: inv.government.id,
            transactionType: inv.government.transactionType,
            governmentDocumentS3Link: government.pdf,
            governmentXmlDocumentS3Link: government.xml,
          },
        }
      : {}),
  };
}

export function profilePayloads(data: ConnectionData, billingOnly: boolean) {
  return data.profiles
    .filter((p) => !billingOnly || p.billing)
    .map((p) => ({
      profileId: new JsonNumber(p.profileId),
      countryCode: p.countryCode,
      currencyCode: p.currencyCode,
      dailyBudget: 999999999,
      timezone: p.timezone,
      accountInfo: {
        marketplaceStringId: 'ATVPDKIKX0DER',
        id: `A${p.profileId.slice(0, 12)}`,
        type: 'seller',
        name: p.name,
        validPaymentMethod: true,
      },
    }));
}

const csvField = (value: string) => (/[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);

/**
 * The global invoicing report as CSV: one row per invoice line of the account's invoices dated in the
 * window (countries filtered when asked). Campaign names carry commas, quotes and, now and then, a line
 * break, as real exports do, so a row count has to read the quoting.
 */
export function statementCsv(
  data: ConnectionData,
  startDate: string,
  endDate: string,
  countryCodes: readonly string[],
  gaps?: GapInvoices,
): { csv: Buffer; rows: number } {
  const header = [
    'Invoice ID',
    'Invoice date',
    'Country',
    'Status',
    'Currency',
    'Campaign',
    'Program',
    'Cost',
    'Invoice total',
    'Tax',
    'Remaining',
  ];
  const lines = [header.join(',')];
  for (const p of data.profiles) {
    if (!p.billing || (countryCodes.length && !countryCodes.includes(p.countryCode))) continue;
    for (const inv of p.invoices) {
      if (inv.invoiceDate < startDate || inv.invoiceDate > endDate) continue;
      if (gaps?.notInReport.has(inv.id)) continue;
      // One minor unit off, or another currency: what the switches ask the statement to get wrong.
      const invoiceTotal = total(inv) + (gaps?.amountOff.has(inv.id) ? 1n : 0n);
      const tax = inv.tax + (gaps?.taxOff.has(inv.id) ? 1n : 0n);
      const currency = gaps?.currencyOff.has(inv.id)
        ? inv.currency === 'USD'
          ? 'EUR'
          : 'USD'
        : inv.currency;
      for (const [i, l] of inv.lines.entries()) {
        const campaign = i === 1 ? `${l.campaignName}\n(continued)` : l.campaignName;
        lines.push(
          [
            inv.id,
            inv.invoiceDate,
            inv.country,
            inv.status,
            currency,
            campaign,
            l.program,
            decimal(l.units, inv.scale),
            decimal(invoiceTotal, inv.scale),
            decimal(tax, inv.scale),
            decimal(inv.remaining, inv.scale),
          ]
            .map(csvField)
            .join(','),
        );
      }
    }
  }
  return { csv: Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8'), rows: lines.length - 1 };
}
