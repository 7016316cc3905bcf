import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSecret, SecretError } from '../../../../shared/aws/secrets.ts';
import type { ListingJob } from '../../../../shared/engine/provider-spec.ts';
import { windowFor } from '../../../../shared/engine/window.ts';
import {
  invoiceDetailSchema,
  invoiceSummarySchema,
  unwrapPayload,
} from '../../../../shared/providers/amazon-ads/api.ts';
import { CsvRowCounter } from '../../../../shared/providers/amazon-ads/csv-rows.ts';
import { docTypesFor } from '../../../../shared/providers/amazon-ads/documents.ts';
import { invoiceKind, normalizeInvoice } from '../../../../shared/providers/amazon-ads/normalize.ts';
import { promisedDocumentGaps } from '../../../../shared/providers/amazon-ads/promised-document-gaps.ts';
import { amazonAdsSpec } from '../../../../shared/providers/amazon-ads/spec.ts';
import { compactDate } from '../../../../shared/providers/amazon-ads/statements.ts';

const field = fc.string({ unit: fc.constantFrom('a', 'b', ',', '"', '\n', '\r\n', ' ', 'é'), maxLength: 12 });
const csvField = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

describe('CsvRowCounter', () => {
  it('counts data rows whatever the quoting and however the bytes are chunked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(field, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 30 }),
        fc.constantFrom('\n', '\r\n'),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 40 }),
        (records, eol, finalBreak, cuts) => {
          // A record whose only field is empty would be a blank line: give it a visible field.
          const lines = records.map((r) => r.map(csvField).join(',') || '""');
          const text = `${lines.join(eol)}${finalBreak ? eol : ''}`;
          const bytes = Buffer.from(text, 'utf8');
          const counter = new CsvRowCounter();
          let at = 0;
          for (let i = 0; at < bytes.length; i++) {
            const n = cuts[i % cuts.length]!;
            counter.push(bytes.subarray(at, at + n));
            at += n;
          }
          expect(counter.records()).toBe(records.length);
          expect(counter.rows()).toBe(records.length - 1);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('an empty file has no rows', () => {
    expect(new CsvRowCounter().rows()).toBe(0);
  });
});

const summary = (over: Record<string, unknown> = {}) =>
  invoiceSummarySchema.parse({
    id: 'US1',
    invoiceDate: '20250214',
    status: 'PROCESSING',
    fromDate: '20250101',
    toDate: '20250131',
    dueDate: '20250316',
    amountDue: { amount: '107.50', currencyCode: 'USD' },
    taxAmountDue: { amount: '7.5', currencyCode: 'USD' },
    remainingAmountDue: { amount: '0.00', currencyCode: 'USD' },
    purchaseOrderNumber: 'PO-1',
    downloadableDocuments: ['INVOICE'],
    ...over,
  });

describe('amazon-ads normalize', () => {
  it('maps the summary to the normalized invoice: dates, amounts, status verbatim, documents and raw key', () => {
    const doc = {
      type: 'INVOICE',
      key: 'documents/amazon-ads/c/1/US1/INVOICE.pdf',
      sha256: 'a'.repeat(64),
      bytes: 10,
    };
    expect(
      normalizeInvoice({
        connection: 'c',
        profileId: '1',
        summary: summary(),
        documents: [doc],
        rawKey: 'raw/amazon-ads/c/1/2025/02/US1.json',
        fetchedAt: '2025-02-15T00:00:00.000Z',
      }),
    ).toEqual({
      provider: 'amazon-ads',
      connection: 'c',
      account: '1',
      invoiceId: 'US1',
      invoiceNumber: 'US1',
      kind: 'INVOICE',
      status: 'PROCESSING',
      issuedOn: '2025-02-14',
      dueOn: '2025-03-16',
      servicePeriod: { from: '2025-01-01', to: '2025-01-31' },
      currency: 'USD',
      // Amounts keep the digits the API sent (the engine pads them to the currency's minor units on landing).
      subtotal: '100',
      tax: '7.5',
      total: '107.50',
      amountDue: '107.50',
      remainingDue: '0.00',
      purchaseOrderNumber: 'PO-1',
      correctsInvoiceId: null,
      replacesInvoiceIds: [],
      documents: [doc],
      rawKey: 'raw/amazon-ads/c/1/2025/02/US1.json',
      fetchedAt: '2025-02-15T00:00:00.000Z',
    });
  });

  it('credit memos are CREDIT_NOTE, by the government transaction type or the documents offered', () => {
    expect(invoiceKind(summary({ downloadableDocuments: ['CREDIT_NOTE'] }), undefined)).toBe('CREDIT_NOTE');
    expect(invoiceKind(summary({ downloadableDocuments: [] }), undefined, ['CREDIT_MEMO'])).toBe(
      'CREDIT_NOTE',
    );
    const detail = (transactionType: string) =>
      invoiceDetailSchema.parse({
        invoiceSummary: summary({ downloadableDocuments: [] }),
        adjustments: [],
        invoiceLines: [],
        payments: [],
        portfolios: [],
        promotions: [],
        taxDetail: {},
        issuerContactInfo: {},
        payerContactInfo: {},
        thirdPartyContactInfo: [],
        governmentInvoiceInformation: { transactionType },
      });
    expect(invoiceKind(summary(), detail('CREDIT'))).toBe('CREDIT_NOTE');
    expect(invoiceKind(summary({ downloadableDocuments: ['CREDIT_NOTE'] }), detail('DEBIT'))).toBe('INVOICE');
    expect(invoiceKind(summary({ downloadableDocuments: [] }), undefined)).toBe('INVOICE');
    expect(docTypesFor(['INVOICE', 'CREDIT_NOTE', 'SOMETHING_NEW'])).toEqual(['INVOICE', 'CREDIT_MEMO']);
  });

  it('names the field of a date it cannot read', () => {
    expect(() =>
      normalizeInvoice({
        connection: 'c',
        profileId: '1',
        summary: summary({ dueDate: '2025-02-30' }),
        documents: [],
        rawKey: 'k',
        fetchedAt: 'x',
      }),
    ).toThrowError(/dueDate: not a calendar date/);
  });

  it('reads both answer shapes: the model unwrapped and the guide wrapped in {status, payload}', () => {
    const page = { invoiceSummaries: [], nextCursor: null };
    expect(unwrapPayload({ status: 'SUCCESS', payload: page })).toBe(page);
    expect(unwrapPayload(page)).toBe(page);
  });
});

describe('amazon-ads invoices item: id, issue date, id of an unfit summary', () => {
  const item = (amazonAdsSpec.jobs.find((j) => j.name === 'invoices') as ListingJob).item;

  it('reads the id and the issue date of a summary, and the id of one that does not fit when it has one', () => {
    expect(item.id(summary())).toBe('US1');
    expect(item.issuedOn(summary())).toBe('2025-02-14');
    expect(() => item.issuedOn(summary({ invoiceDate: 'soon' }))).toThrowError(/invoiceDate/);
    expect(item.idOfUnfit?.({ id: 'US2', amountDue: null })).toBe('US2');
    for (const raw of [{ id: '' }, { id: 7 }, {}, null, 'US3']) expect(item.idOfUnfit?.(raw)).toBeUndefined();
  });
});

describe('amazon-ads window, secret and dates', () => {
  const now = new Date('2025-06-30T23:00:00Z');
  it('goes back the lookback from the watermark, else starts at backfillFrom, else today less the lookback', () => {
    expect(windowFor({ lookbackDays: 30 }, '2025-06-20', now)).toEqual({
      from: '2025-05-21',
      to: '2025-06-30',
    });
    expect(windowFor({ lookbackDays: 30, backfillFrom: '2024-01-01' }, undefined, now)).toEqual({
      from: '2024-01-01',
      to: '2025-06-30',
    });
    expect(windowFor({ lookbackDays: 10 }, undefined, now)).toEqual({
      from: '2025-06-20',
      to: '2025-06-30',
    });
    expect(windowFor({ lookbackDays: 1 }, '2025-08-01', now)).toEqual({
      from: '2025-06-30',
      to: '2025-06-30',
    });
  });

  it('a secret without its refresh token is refused naming the field, never echoing a value', () => {
    const parse = (raw: unknown) => parseSecret(amazonAdsSpec.secret, raw, 'unit/ads');
    const refused = (raw: unknown) => {
      try {
        parse(raw);
      } catch (err) {
        return err as SecretError;
      }
      throw new Error('the secret was accepted');
    };
    const missing = refused({ clientId: 'id', clientSecret: 'very-secret-value' });
    expect(missing).toBeInstanceOf(SecretError);
    expect(missing.message).toMatch(/secret "unit\/ads": .*field "refreshToken": missing/);
    expect(missing.fields).toEqual(['refreshToken']);
    expect(missing.message).not.toContain('very-secret-value');
    const empty = refused({ clientId: 'id', clientSecret: 'very-secret-value', refreshToken: '' });
    expect(empty.fields).toEqual(['refreshToken']);
    expect(empty.message).not.toContain('very-secret-value');
    expect(parse({ clientId: 'a', clientSecret: 'b', refreshToken: 'c' })).toEqual({
      clientId: 'a',
      clientSecret: 'b',
      refreshToken: 'c',
    });
  });

  it('compact dates are yyyyMMdd', () => {
    expect(compactDate('2023-11-24')).toBe('20231124');
  });
});

describe('amazon-ads promised documents', () => {
  const landed = (over: Record<string, unknown> = {}) => {
    const s = summary({ status: 'ISSUED', ...over });
    return {
      s,
      invoice: normalizeInvoice({
        connection: 'c',
        profileId: '1',
        summary: s,
        documents: [],
        rawKey: 'raw/amazon-ads/c/1/2025/02/US1.json',
        fetchedAt: '2025-02-15T00:00:00.000Z',
      }),
    };
  };

  it('no gap when GetDocument offered what the summary promises (a copy that failed is pending, not this)', () => {
    const { s, invoice } = landed();
    const enrichment = { detail: { documents: [], availableDocTypes: ['INVOICE'] } };
    expect(promisedDocumentGaps(s, enrichment, invoice)).toEqual([]);
    // Nothing promised, nothing owed.
    const none = landed({ downloadableDocuments: [] });
    expect(
      promisedDocumentGaps(none.s, { detail: { documents: [], availableDocTypes: [] } }, none.invoice),
    ).toEqual([]);
  });

  it('a promised document GetDocument did not offer is a gap naming the invoice, the document and why', () => {
    const { s, invoice } = landed({ downloadableDocuments: ['INVOICE', 'CREDIT_NOTE'] });
    const enrichment = {
      detail: {
        documents: [],
        availableDocTypes: ['INVOICE'],
        unavailable: [{ docType: 'CREDIT_MEMO', reason: 'DOCUMENT_NOT_GENERATED' }],
      },
    };
    const gaps = promisedDocumentGaps(s, enrichment, invoice);
    expect(gaps).toEqual([
      {
        code: 'document-not-offered',
        scope: '1',
        invoiceId: 'US1',
        field: 'CREDIT_NOTE',
        expected: 'CREDIT_NOTE',
        found: null,
        message:
          'downloadableDocuments promises CREDIT_NOTE; GetDocument did not offer CREDIT_MEMO (DOCUMENT_NOT_GENERATED)',
      },
    ]);
    // GetDocument's answer did not fit (nothing offered): every promise is a gap.
    expect(
      promisedDocumentGaps(s, { detail: { documents: [], availableDocTypes: [] } }, invoice),
    ).toHaveLength(2);
  });
});
