import { formatMinorUnits } from '../framework/seed.ts';
import type { SimInvoice, SimProfile } from './data.ts';

/**
 * The invoice PDF a pdfUrl serves: one page of Helvetica text with a real cross-reference table, so a
 * client that checks the bytes (magic number, trailer, parsable xref) sees a proper PDF. The bytes depend
 * on the invoice alone, so their sha256 is known before anyone downloads them.
 */

const pdfString = (s: string) => s.replace(/[\\()]/g, (c) => `\\${c}`);

const sum = (inv: SimInvoice, pick: (c: SimInvoice['campaigns'][number]) => bigint) =>
  inv.campaigns.reduce((n, c) => n + pick(c), 0n);

const money = (micros: bigint) => formatMinorUnits(micros, 6);

function lines(profile: SimProfile, inv: SimInvoice): string[] {
  const credit = inv.invoiceType === 'INVOICE_TYPE_CREDIT';
  const sub = sum(inv, (c) => c.preTaxMicros);
  const tax = sum(inv, (c) => c.taxMicros);
  return [
    `Google Campaign Manager 360 - ${credit ? 'Credit memo' : 'Invoice'} ${inv.id}`,
    `Issue date: ${inv.issueDate}   Due date: ${inv.dueDate}`,
    `Service period: ${inv.serviceStartDate} to ${inv.serviceEndDate}`,
    `Billing ID: ${inv.paymentsProfileId}   Billing Account Number: ${inv.paymentsAccountId}`,
    `Advertiser: ${inv.advertiserId}   Account: ${profile.accountId}`,
    ...(inv.purchaseOrderNumber ? [`Purchase order: ${inv.purchaseOrderNumber}`] : []),
    ...(inv.correctedInvoiceId ? [`Reference invoice number: ${inv.correctedInvoiceId}`] : []),
    ...(inv.replacedInvoiceIds ? [`Replaced invoice numbers: ${inv.replacedInvoiceIds.join(', ')}`] : []),
    '',
    ...inv.campaigns.map(
      (c) =>
        `Campaign ${c.campaignId}${c.billingInvoiceCode ? ` (${c.billingInvoiceCode})` : ''}: ` +
        `${money(c.preTaxMicros)} + tax ${money(c.taxMicros)}`,
    ),
    '',
    `Subtotal: ${inv.currencyCode} ${money(sub)}`,
    `Tax: ${inv.currencyCode} ${money(tax)}`,
    `Total: ${inv.currencyCode} ${money(sub + tax)}`,
  ];
}

export function invoicePdf(profile: SimProfile, inv: SimInvoice): Buffer {
  const text = lines(profile, inv)
    .map((l) => `(${pdfString(l)}) Tj T*`)
    .join('\n');
  const content = `BT\n/F1 10 Tf\n14 TL\n50 760 Td\n${text}\nET\n`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>',
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}endstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  // The second line's high bytes tell transfer tools the file is binary, as PDF writers do.
  let out = '%PDF-1.4\n%\u00e2\u00e3\u00cf\u00d3\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
