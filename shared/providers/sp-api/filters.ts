import type { ExportRequestBody, InvoiceFilters } from './api.ts';
import type { InvoicesAttributesResponse } from './schemas.ts';
import type { SpApiConnection } from './spec.ts';

/** A connection filter the marketplace does not accept: fixing the config is the only cure, so never retried. */
export class FilterError extends Error {
  override name = 'FilterError';
  readonly retryable = false;
  constructor(
    readonly connection: string,
    readonly field: string,
    detail: string,
  ) {
    super(`connection "${connection}" field "filters.${field}": ${detail}`);
  }
}

type Attributes = NonNullable<InvoicesAttributesResponse['invoicesAttributes']>;

type OptionList =
  | 'invoiceStatusOptions'
  | 'invoiceTypeOptions'
  | 'transactionTypeOptions'
  | 'transactionIdentifierNameOptions';

const CHECKED: ReadonlyArray<{ field: keyof InvoiceFilters; options: OptionList; what: string }> = [
  { field: 'statuses', options: 'invoiceStatusOptions', what: 'invoice statuses' },
  { field: 'invoiceType', options: 'invoiceTypeOptions', what: 'invoice types' },
  { field: 'transactionType', options: 'transactionTypeOptions', what: 'transaction types' },
  {
    field: 'transactionIdentifierName',
    options: 'transactionIdentifierNameOptions',
    what: 'transaction identifier names',
  },
];

/** The connection's getInvoices filters, as request parameters (empty ones left out). */
export function invoiceFilters(connection: SpApiConnection): InvoiceFilters {
  const f = connection.filters;
  const named = f.transactionIdentifierName !== undefined;
  const ided = f.transactionIdentifierId !== undefined;
  if (named !== ided) {
    const missing = named ? 'transactionIdentifierId' : 'transactionIdentifierName';
    throw new FilterError(
      connection.id,
      missing,
      'transactionIdentifierName and transactionIdentifierId go together: set both or neither',
    );
  }
  const out: InvoiceFilters = {};
  if (f.transactionIdentifierName) out.transactionIdentifierName = f.transactionIdentifierName;
  if (f.transactionIdentifierId) out.transactionIdentifierId = f.transactionIdentifierId;
  if (f.transactionType) out.transactionType = f.transactionType;
  if (f.series) out.series = f.series;
  if (f.statuses && f.statuses.length > 0) out.statuses = [...f.statuses];
  if (f.invoiceType) out.invoiceType = f.invoiceType;
  return out;
}

/** The same filters in createInvoicesExport's body shape. */
export function exportFilters(filters: InvoiceFilters): Omit<ExportRequestBody, 'marketplaceId'> {
  return {
    ...(filters.series ? { series: filters.series } : {}),
    ...(filters.statuses ? { statuses: [...filters.statuses] } : {}),
    ...(filters.invoiceType ? { invoiceType: filters.invoiceType } : {}),
    ...(filters.transactionType ? { transactionType: filters.transactionType } : {}),
    ...(filters.transactionIdentifierName && filters.transactionIdentifierId
      ? {
          transactionIdentifier: {
            name: filters.transactionIdentifierName,
            id: filters.transactionIdentifierId,
          },
        }
      : {}),
  };
}

/**
 * Checks each filter value against the options getInvoicesAttributes lists for the marketplace. A list
 * the marketplace leaves empty says nothing about valid values, so it checks nothing (the model's own
 * example answers empty lists for three of the four).
 */
export function checkFilters(
  connection: SpApiConnection,
  marketplaceId: string,
  filters: InvoiceFilters,
  attributes: InvoicesAttributesResponse,
): void {
  const attrs: Attributes = attributes.invoicesAttributes ?? {};
  for (const { field, options, what } of CHECKED) {
    const value = filters[field];
    if (value === undefined) continue;
    const allowed = (attrs[options] ?? [])
      .map((o) => o.value)
      .filter((v): v is string => typeof v === 'string');
    if (allowed.length === 0) continue;
    const values = Array.isArray(value) ? value : [value as string];
    const bad = values.filter((v) => !allowed.includes(v));
    if (bad.length > 0) {
      throw new FilterError(
        connection.id,
        field,
        `${bad.map((b) => JSON.stringify(b)).join(', ')} ${bad.length > 1 ? 'are' : 'is'} not among the ${what} ` +
          `getInvoicesAttributes lists for marketplace ${marketplaceId}: ${allowed.join(', ')}`,
      );
    }
  }
}
