import type { ProviderId } from '../config/schema.ts';

/**
 * Deterministic S3 keys (DESIGN.md "S3 layout"): a redelivered message overwrites the same object.
 * Every path segment that comes from a provider is made safe first, so no id can escape its prefix.
 */

/** Keeps ids readable while removing what could change the key's meaning ('/', '..', control chars). */
export function safeSegment(value: string): string {
  const cleaned = value
    .normalize('NFKC')
    .replace(/[^A-Za-z0-9._=+@-]/g, '_')
    .replace(/^\.+/, '_');
  if (!cleaned) throw new Error('empty key segment');
  return cleaned.slice(0, 200);
}

const seg = safeSegment;

export function rawInvoiceKey(
  provider: ProviderId,
  connection: string,
  scope: string,
  issuedOn: string,
  invoiceId: string,
): string {
  const [yyyy, mm] = issuedOn.split('-');
  return `raw/${provider}/${seg(connection)}/${seg(scope)}/${yyyy}/${mm}/${seg(invoiceId)}.json`;
}

/** Raw answers that are not one invoice (listings, attributes, discovered scopes). */
export function rawPayloadKey(provider: ProviderId, connection: string, scope: string, name: string): string {
  return `raw/${provider}/${seg(connection)}/${seg(scope)}/_payloads/${seg(name)}.json`;
}

export function documentKey(
  provider: ProviderId,
  connection: string,
  scope: string,
  invoiceId: string,
  name: string,
  ext: 'pdf' | 'xml' | 'zip',
): string {
  return `documents/${provider}/${seg(connection)}/${seg(scope)}/${seg(invoiceId)}/${seg(name)}.${ext}`;
}

export function billingStatementKey(
  connection: string,
  startDate: string,
  endDate: string,
  statementId: string,
): string {
  return `reports/amazon-ads/${seg(connection)}/billing-statements/${seg(startDate)}_${seg(endDate)}/${seg(statementId)}.csv`;
}

export function spApiExportKey(
  connection: string,
  marketplaceId: string,
  exportId: string,
  documentId: string,
): string {
  return `exports/sp-api/${seg(connection)}/${seg(marketplaceId)}/${seg(exportId)}/${seg(documentId)}.zip`;
}

export function normalizedMonthKey(
  provider: ProviderId,
  connection: string,
  scope: string,
  issuedOn: string,
): string {
  return `invoices/provider=${provider}/issue_month=${issuedOn.slice(0, 7)}/${seg(connection)}-${seg(scope)}.jsonl`;
}

/** A connection's control totals for one run: its gaps, then its summary, as JSON lines (README "Control totals"). */
export function reconciliationKey(provider: ProviderId, connection: string, runId: string): string {
  return `reconciliation/provider=${provider}/connection=${seg(connection)}/${seg(runId)}.jsonl`;
}
