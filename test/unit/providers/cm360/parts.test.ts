import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSecret } from '../../../../shared/aws/secrets.ts';
import { normalizedInvoiceSchema } from '../../../../shared/invoice/model.ts';
import { invoiceSchema } from '../../../../shared/providers/cm360/api.ts';
import {
  decodeCursor,
  encodeCursor,
  issueMonths,
  nextCursor,
} from '../../../../shared/providers/cm360/issue-months.ts';
import { invoiceKind, normalizeInvoice } from '../../../../shared/providers/cm360/normalize.ts';
import { isQuotaError } from '../../../../shared/providers/cm360/quota.ts';
import { cm360Spec } from '../../../../shared/providers/cm360/spec.ts';
import { cm360Invoice } from '../../../helpers/cm360-invoice.ts';

const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };

/** A decimal string back to micros, with BigInt only: "-12.5" -> -12500000n. */
function decimalToMicros(decimal: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,6}))?$/.exec(decimal);
  if (!m) throw new Error(`not a decimal with at most 6 places: ${decimal}`);
  const units = BigInt(m[2]!) * 1_000_000n + BigInt((m[3] ?? '').padEnd(6, '0'));
  return m[1] === '-' ? -units : units;
}

const normalize = (inv = cm360Invoice()) =>
  normalizeInvoice({
    connection: 'cm-unit',
    advertiserId: '12687700',
    invoice: inv,
    documents: [],
    rawKey: 'raw/cm360/cm-unit/12687700/2024/05/4387427944.json',
    fetchedAt: '2024-06-01T00:00:00.000Z',
  });

describe('issue months and the listing cursor', () => {
  it('walks every month the window touches, across years', () => {
    expect(issueMonths({ from: '2023-11-30', to: '2024-02-01' })).toEqual([
      '202311',
      '202312',
      '202401',
      '202402',
    ]);
    expect(issueMonths({ from: '2024-05-01', to: '2024-05-31' })).toEqual(['202405']);
  });

  it('goes through each month page by page, then to the next month, then ends', () => {
    const months = ['202404', '202405'];
    expect(decodeCursor(undefined, months)).toEqual({ month: '202404' });
    expect(nextCursor(months, '202404', 'tok:with:colons')).toBe('202404:tok:with:colons');
    expect(decodeCursor('202404:tok:with:colons', months)).toEqual({
      month: '202404',
      pageToken: 'tok:with:colons',
    });
    expect(nextCursor(months, '202404', undefined)).toBe('202405');
    expect(decodeCursor('202405', months)).toEqual({ month: '202405' });
    expect(nextCursor(months, '202405', undefined)).toBeNull();
    expect(() => decodeCursor('202406', months)).toThrow(/issue month of the window/);
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), (token) => {
        expect(decodeCursor(encodeCursor({ month: '202405', pageToken: token }), months)).toEqual({
          month: '202405',
          pageToken: token,
        });
      }),
    );
  });
});

describe('CM360 normalization', () => {
  it('converts int64 micros exactly, as BigInt arithmetic says, however large or negative', () => {
    fc.assert(
      fc.property(fc.bigInt(INT64), fc.bigInt(INT64), (sub, tax) => {
        const total = sub + tax;
        const line = normalize(
          cm360Invoice({
            subtotalAmountMicros: sub.toString(),
            totalTaxAmountMicros: tax.toString(),
            totalAmountMicros: total.toString(),
          }),
        );
        expect(decimalToMicros(line.subtotal!)).toBe(sub);
        expect(decimalToMicros(line.tax!)).toBe(tax);
        expect(decimalToMicros(line.total!)).toBe(total);
        expect(decimalToMicros(line.subtotal!) + decimalToMicros(line.tax!)).toBe(
          decimalToMicros(line.total!),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the digits a double would round (2^53 + 1 micros), and a credit negative', () => {
    const huge = normalize(cm360Invoice({ subtotalAmountMicros: '9007199254740993' }));
    expect(huge.subtotal).toBe('9007199254.740993');
    const credit = normalize(
      cm360Invoice({
        invoiceType: 'INVOICE_TYPE_CREDIT',
        subtotalAmountMicros: '-1234567890123456789',
        correctedInvoiceId: '4387427000',
      }),
    );
    expect(credit.subtotal).toBe('-1234567890123.456789');
    expect(credit.kind).toBe('CREDIT_NOTE');
    expect(credit.correctsInvoiceId).toBe('4387427000');
  });

  it('refuses micros sent as a JSON number a double cannot hold, and takes a safe one', () => {
    expect(invoiceSchema.safeParse({ ...cm360Invoice(), totalAmountMicros: 2 ** 53 + 2 }).success).toBe(
      false,
    );
    expect(normalize(cm360Invoice({ totalAmountMicros: 1_500_000 })).total).toBe('1.5');
  });

  it('maps the invoice type and keeps every field the model has', () => {
    expect(invoiceKind('INVOICE_TYPE_INVOICE')).toBe('INVOICE');
    expect(invoiceKind('INVOICE_TYPE_CREDIT')).toBe('CREDIT_NOTE');
    expect(invoiceKind('INVOICE_TYPE_UNSPECIFIED')).toBe('OTHER');
    expect(invoiceKind(undefined)).toBe('OTHER');
    expect(invoiceKind('INVOICE_TYPE_SOMETHING_NEW')).toBe('OTHER');

    const line = normalize(
      cm360Invoice({
        purchaseOrderNumber: 'PO-1',
        replacedInvoiceIds: ['111', '222'],
        issueDate: '20240502',
      }),
    );
    expect(normalizedInvoiceSchema.parse(line)).toEqual({
      provider: 'cm360',
      connection: 'cm-unit',
      account: '12687700',
      invoiceId: '4387427944',
      invoiceNumber: '4387427944',
      kind: 'INVOICE',
      status: null,
      issuedOn: '2024-05-02',
      dueOn: '2024-06-01',
      servicePeriod: { from: '2024-04-01', to: '2024-04-30' },
      currency: 'EUR',
      subtotal: '16531.65',
      tax: '3141.0135',
      total: '19672.6635',
      amountDue: null,
      remainingDue: null,
      purchaseOrderNumber: 'PO-1',
      correctsInvoiceId: null,
      replacesInvoiceIds: ['111', '222'],
      documents: [],
      rawKey: 'raw/cm360/cm-unit/12687700/2024/05/4387427944.json',
      fetchedAt: '2024-06-01T00:00:00.000Z',
    });
    // Absent amounts and dates are null, not zero.
    const bare = normalize(invoiceSchema.parse({ id: '1', issueDate: '2024-05-02' }));
    expect(bare).toMatchObject({ subtotal: null, tax: null, total: null, currency: null, dueOn: null });
    expect(() => normalize(cm360Invoice({ currencyCode: 'euro' }))).toThrow(/ISO 4217/);
  });
});

describe('quota errors', () => {
  const google = (reason: string, message: string) =>
    JSON.stringify({
      error: {
        code: 403,
        message,
        status: 'PERMISSION_DENIED',
        errors: [{ reason, message, domain: 'usageLimits' }],
      },
    });

  it('tells the quota 403s from the permission ones (the client then paces and retries them like a 429)', () => {
    expect(isQuotaError(403, google('userRateLimitExceeded', 'User Rate Limit Exceeded'))).toBe(true);
    expect(isQuotaError(403, google('rateLimitExceeded', 'Rate Limit Exceeded'))).toBe(true);
    expect(isQuotaError(403, google('quotaExceeded', "Quota exceeded for quota metric 'Queries'"))).toBe(
      true,
    );
    expect(
      isQuotaError(403, google('forbidden', 'The current user does not have access to user profile 1.')),
    ).toBe(false);
    expect(isQuotaError(400, google('rateLimitExceeded', 'Rate Limit Exceeded'))).toBe(false);
  });
});

describe('CM360 secret', () => {
  it('takes a refresh-token client or a service account, naming a missing field', () => {
    expect(
      parseSecret(cm360Spec.secret, { clientId: 'a', clientSecret: 'b', refreshToken: 'c' }, 's'),
    ).toEqual({
      clientId: 'a',
      clientSecret: 'b',
      refreshToken: 'c',
    });
    expect(() => parseSecret(cm360Spec.secret, { clientId: 'a', clientSecret: 'b' }, 's')).toThrow(
      /refreshToken/,
    );
  });
});
