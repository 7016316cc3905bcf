import { describe, expect, it } from 'vitest';
import { normalizedInvoiceSchema } from '../../../shared/invoice/model.ts';
import {
  DATA_COLUMNS,
  duckdbType,
  glueType,
  INVOICE_COLUMNS,
  PARTITION_COLUMNS,
} from '../../../shared/invoice/table-columns.ts';

const typeOf = (name: string) => INVOICE_COLUMNS.find((c) => c.name === name)!.type;

describe('the invoices table columns', () => {
  it('cover exactly the keys of a normalized invoice, each once', () => {
    const keys = INVOICE_COLUMNS.flatMap((c) => (c.key ? [c.key] : []));
    expect(new Set(keys).size).toBe(keys.length);
    expect([...keys].sort()).toEqual(Object.keys(normalizedInvoiceSchema.shape).sort());
  });

  it('read every key but provider from the line, provider and issue_month from the path', () => {
    expect(DATA_COLUMNS.map((c) => c.key)).not.toContain('provider');
    expect(PARTITION_COLUMNS.map((c) => c.name)).toEqual(['provider', 'issue_month']);
  });

  it('name each column after its key in lower case, as Athena names columns', () => {
    for (const c of INVOICE_COLUMNS) {
      expect(c.name).toBe(c.name.toLowerCase());
      if (c.key) expect(c.name).toBe(c.key.toLowerCase());
    }
  });

  it('type money as DECIMAL(38,6), dates as DATE, fetchedAt as TIMESTAMP, nested fields as structs', () => {
    for (const money of ['subtotal', 'tax', 'total', 'amountdue', 'remainingdue']) {
      expect(glueType(typeOf(money))).toBe('decimal(38,6)');
      expect(duckdbType(typeOf(money))).toBe('DECIMAL(38,6)');
    }
    for (const day of ['issuedon', 'dueon']) {
      expect([glueType(typeOf(day)), duckdbType(typeOf(day))]).toEqual(['date', 'DATE']);
    }
    expect([glueType(typeOf('fetchedat')), duckdbType(typeOf('fetchedat'))]).toEqual([
      'timestamp',
      'TIMESTAMP',
    ]);
    expect(glueType(typeOf('serviceperiod'))).toBe('struct<from:date,to:date>');
    expect(duckdbType(typeOf('serviceperiod'))).toBe('STRUCT("from" DATE, "to" DATE)');
    expect(glueType(typeOf('documents'))).toBe(
      'array<struct<type:string,key:string,sha256:string,bytes:bigint>>',
    );
    expect(duckdbType(typeOf('documents'))).toBe(
      'STRUCT("type" VARCHAR, "key" VARCHAR, "sha256" VARCHAR, "bytes" BIGINT)[]',
    );
    expect([glueType(typeOf('replacesinvoiceids')), duckdbType(typeOf('replacesinvoiceids'))]).toEqual([
      'array<string>',
      'VARCHAR[]',
    ]);
    expect([glueType(typeOf('issue_month')), duckdbType(typeOf('issue_month'))]).toEqual([
      'string',
      'VARCHAR',
    ]);
  });

  it('give the nested objects the model’s fields', () => {
    const shape = normalizedInvoiceSchema.shape;
    const fields = (name: string) => {
      const t = typeOf(name);
      const struct = typeof t === 'object' && 'array' in t ? t.array : t;
      return typeof struct === 'object' && 'struct' in struct ? struct.struct.map((f) => f.name).sort() : [];
    };
    expect(fields('serviceperiod')).toEqual(Object.keys(shape.servicePeriod.shape).sort());
    expect(fields('documents')).toEqual(Object.keys(shape.documents.element.shape).sort());
  });
});
