import { describe, expect, it } from 'vitest';
import type { TableEntry } from '../../../../shared/engine/invoice-table.ts';
import type { Gap, ReconcileInput, RunScope } from '../../../../shared/engine/reconciliation.ts';
import type { Window } from '../../../../shared/jobs/messages.ts';
import { brazilDay, normalizeInvoice } from '../../../../shared/providers/sp-api/normalize.ts';
import { reconcileXmls } from '../../../../shared/providers/sp-api/reconcile-xmls.ts';
import type { SpInvoice } from '../../../../shared/providers/sp-api/schemas.ts';
import type { SpApiConnection } from '../../../../shared/providers/sp-api/spec.ts';
import { indexKey, type XmlIndexEntry } from '../../../../shared/providers/sp-api/xml-index.ts';
import { matchOf } from '../../../../shared/providers/sp-api/xml-linking.ts';
import type { ExportRecord, ProviderContext } from '../../../../shared/providers/types.ts';

const MP = 'A2Q3Y263D00KWC';
const CONN = 'sp-br';
const WINDOW: Window = { from: '2024-06-20', to: '2024-07-10' };
const EXPORT = 'export-1';
const SCOPES: RunScope[] = [
  { job: 'invoices', scope: MP, window: WINDOW },
  { job: 'exports', scope: MP, window: WINDOW },
];

const accessKey = (n: number) => `352407123456780001905500100000${String(n).padStart(4, '0')}1123456780`;

function invoice(
  id: string,
  date: string,
  status: string,
  ids: Partial<SpInvoice> = {},
  total: string | null = null,
  fetchedAt = '2024-07-11T00:00:00Z',
): TableEntry {
  const item: SpInvoice = { id, date, status, series: '1', ...ids };
  const line = normalizeInvoice({
    connection: CONN,
    marketplaceId: MP,
    invoice: item,
    rawKey: `raw/${id}.json`,
    fetchedAt,
  });
  const match = matchOf(item);
  return { invoice: { ...line, total }, ...(match ? { match } : {}) };
}

function xml(n: number, issuedAt: string, fields: Partial<XmlIndexEntry> = {}): XmlIndexEntry {
  return {
    id: accessKey(n),
    accessKey: accessKey(n),
    number: String(n),
    series: '1',
    issuedAt,
    month: brazilDay(issuedAt).slice(0, 7),
    vProd: '100',
    vNF: '110',
    vNFParts: '110',
    document: {
      type: 'nfe-xml',
      key: `documents/sp-api/${CONN}/${MP}/${accessKey(n)}.xml`,
      sha256: 'x',
      bytes: 1,
    },
    exportId: EXPORT,
    documentId: 'doc-1',
    entry: `${accessKey(n)}-nfe.xml`,
    ...fields,
  };
}

const done: ExportRecord = {
  key: 'export#1',
  provider: 'sp-api',
  connection: CONN,
  scope: MP,
  exportId: EXPORT,
  state: 'DONE',
  createdAt: '2024-07-11T12:00:00Z',
  deadline: '2024-07-12T00:00:00Z',
  attempts: 1,
  copied: {},
  runId: 'run-1',
};

async function gapsOf(opts: {
  entries: TableEntry[];
  xmls: XmlIndexEntry[];
  record?: ExportRecord | undefined;
  scopes?: RunScope[];
}): Promise<Gap[]> {
  const texts = new Map<string, string>();
  for (const x of opts.xmls) {
    const key = indexKey('xml', CONN, MP, x.month);
    texts.set(key, `${texts.get(key) ?? ''}${JSON.stringify(x)}\n`);
  }
  const months: string[] = [];
  const input: ReconcileInput<SpApiConnection> = {
    ctx: {
      connection: { id: CONN },
      runId: 'run-1',
      sink: { getText: async (key: string) => texts.get(key) },
    } as unknown as ProviderContext<SpApiConnection>,
    scopes: opts.scopes ?? SCOPES,
    async *invoices(_scope, window) {
      months.push(window.from.slice(0, 7));
      for (const e of opts.entries) {
        if (e.invoice.issuedOn >= window.from && e.invoice.issuedOn <= window.to) yield e;
      }
    },
    exportOf: async (job) => (job === 'exports' ? ('record' in opts ? opts.record : done) : undefined),
  };
  const out: Gap[] = [];
  for await (const g of reconcileXmls(input, 'invoices', 'exports')) out.push(g);
  // Month by month: never the whole window's invoices at once.
  if (months.length > 0) expect(months).toEqual(['2024-06', '2024-07']);
  return out;
}

describe('SP-API control totals (listing against the export XMLs)', () => {
  it('a listing whose every NF-e has its XML (by access key, or number and series) has no gap', async () => {
    const gaps = await gapsOf({
      entries: [
        invoice('a', '2024-06-25T15:00:00Z', 'AUTHORIZED', { externalInvoiceId: accessKey(1) }),
        invoice('b', '2024-07-02T15:00:00Z', 'CANCELED', { externalInvoiceId: '0002', series: '001' }),
        // Rejected: the government never authorized it, so no XML is owed.
        invoice('c', '2024-07-03T15:00:00Z', 'REJECTED', { externalInvoiceId: '3' }),
      ],
      xmls: [xml(1, '2024-06-25T12:00:00-03:00'), xml(2, '2024-07-02T12:00:00-03:00')],
    });
    expect(gaps).toEqual([]);
  });

  it('names each authorized or cancelled invoice without its XML, but not those the export cannot hold yet', async () => {
    const gaps = await gapsOf({
      entries: [
        invoice('a', '2024-06-25T15:00:00Z', 'AUTHORIZED', { externalInvoiceId: '1' }),
        invoice('b', '2024-07-02T15:00:00Z', 'CANCELED', { externalInvoiceId: '2' }),
        invoice('p', '2024-07-02T15:00:00Z', 'PENDING', { externalInvoiceId: '3' }),
        // The window's last day: the export's zone-less end may cut it short of the listing's.
        invoice('last', '2024-07-10T23:00:00Z', 'AUTHORIZED', { externalInvoiceId: '4' }),
      ],
      xmls: [],
    });
    expect(gaps).toEqual([
      expect.objectContaining({
        code: 'xml-missing',
        scope: MP,
        invoiceId: 'a',
        field: 'nfe-xml',
        expected: '1',
        found: null,
      }),
      expect.objectContaining({ code: 'xml-missing', invoiceId: 'b', expected: '2', found: null }),
    ]);
    expect(gaps[0]!.message).toMatch(/AUTHORIZED invoice of 2024-06-25 has no XML in export export-1/);
  });

  it("does not hold an earlier run's export to an invoice whose line, answered by the government, landed after it was made", async () => {
    const late = '2024-07-11T13:00:00Z';
    const entries = [
      invoice('a', '2024-06-25T15:00:00Z', 'AUTHORIZED', { externalInvoiceId: '1' }, null, late),
    ];
    expect(await gapsOf({ entries, xmls: [], record: { ...done, runId: 'an-earlier-run' } })).toEqual([]);
    // This run's own export is held to every invoice.
    expect((await gapsOf({ entries, xmls: [] })).map((g) => g.code)).toEqual(['xml-missing']);
  });

  it('does not call missing what was issued from the day the export was made', async () => {
    const gaps = await gapsOf({
      entries: [invoice('a', '2024-07-05T15:00:00Z', 'AUTHORIZED', { externalInvoiceId: '1' })],
      xmls: [],
      record: { ...done, createdAt: '2024-07-05T13:00:00Z' },
    });
    expect(gaps).toEqual([]);
  });

  it('an NF-e whose vNF is not what its parts add up to is itemised with both amounts', async () => {
    const gaps = await gapsOf({
      entries: [
        invoice('a', '2024-06-25T15:00:00Z', 'AUTHORIZED', { externalInvoiceId: accessKey(1) }),
        invoice('b', '2024-06-26T15:00:00Z', 'AUTHORIZED', { externalInvoiceId: accessKey(2) }),
        invoice('c', '2024-06-27T15:00:00Z', 'AUTHORIZED', { externalInvoiceId: accessKey(3) }),
        invoice('d', '2024-06-28T15:00:00Z', 'AUTHORIZED', { externalInvoiceId: accessKey(4) }),
      ],
      xmls: [
        xml(1, '2024-06-25T12:00:00-03:00', { vNF: '110.01', vNFParts: '110' }),
        // Exempted ICMS may be deducted for some items and not others: anything in between adds up.
        xml(2, '2024-06-26T12:00:00-03:00', { vNF: '105', vNFParts: '110', vICMSDeson: '10' }),
        xml(3, '2024-06-27T12:00:00-03:00', { vNF: '99.99', vNFParts: '110', vICMSDeson: '10' }),
        // Indexed before the parts were kept: nothing to hold vNF against.
        xml(4, '2024-06-28T12:00:00-03:00', { vNF: '1', vNFParts: undefined }),
      ],
    });
    expect(gaps).toEqual([
      {
        code: 'nfe-total-differs',
        scope: MP,
        invoiceId: 'a',
        field: 'vNF',
        expected: '110',
        found: '110.01',
        message: `NF-e ${accessKey(1)}: ICMSTot/vNF is not what its parts add up to`,
      },
      expect.objectContaining({ invoiceId: 'c', field: 'vNF', expected: '110', found: '99.99' }),
    ]);
    expect(gaps[1]!.message).toMatch(/less up to vICMSDeson 10/);
  });

  it('a listed line with a total of its own is held against the NF-e vNF', async () => {
    const gaps = await gapsOf({
      entries: [
        invoice('a', '2024-06-25T15:00:00Z', 'AUTHORIZED', { externalInvoiceId: accessKey(1) }, '110.00'),
        invoice('b', '2024-06-26T15:00:00Z', 'AUTHORIZED', { externalInvoiceId: accessKey(2) }, '120'),
      ],
      xmls: [xml(1, '2024-06-25T12:00:00-03:00'), xml(2, '2024-06-26T12:00:00-03:00')],
    });
    expect(gaps).toEqual([
      expect.objectContaining({
        code: 'nfe-total-differs',
        invoiceId: 'b',
        field: 'total',
        expected: '120',
        found: '110',
      }),
    ]);
  });

  it('names an XML of this export that no listed invoice matches, inside the window only', async () => {
    const gaps = await gapsOf({
      entries: [invoice('a', '2024-06-25T15:00:00Z', 'AUTHORIZED', { externalInvoiceId: accessKey(1) })],
      xmls: [
        xml(1, '2024-06-25T12:00:00-03:00'),
        xml(2, '2024-07-01T12:00:00-03:00'),
        // Another export's (another window, other filters), the window's edge days, undated: not judged.
        xml(3, '2024-07-01T12:00:00-03:00', { exportId: 'export-0' }),
        xml(4, '2024-06-20T12:00:00-03:00'),
        xml(5, '2024-07-10T12:00:00-03:00'),
      ],
    });
    expect(gaps).toEqual([
      {
        code: 'not-listed',
        scope: MP,
        invoiceId: accessKey(2),
        field: 'invoice',
        expected: `documents/sp-api/${CONN}/${MP}/${accessKey(2)}.xml`,
        found: null,
        message: `NF-e 2 series 1 of 2024-07-01 is in export export-1 (${accessKey(2)}-nfe.xml) but no listed invoice matches it`,
      },
    ]);
  });

  it('an export that did not finish is one gap, and its XMLs are not checked', async () => {
    const gaps = await gapsOf({
      entries: [invoice('a', '2024-06-25T15:00:00Z', 'AUTHORIZED', { externalInvoiceId: '1' })],
      xmls: [],
      record: { ...done, state: 'FAILED', error: { code: 'EXPORT_ERROR', message: 'boom' } },
    });
    expect(gaps).toEqual([
      expect.objectContaining({
        code: 'export-not-done',
        scope: MP,
        field: 'export',
        expected: 'DONE',
        found: 'FAILED',
      }),
    ]);
  });
});

describe('SP-API control totals without an export', () => {
  it('a run that made no export for the window (one invoice by id) has nothing to check', async () => {
    const out: Gap[] = [];
    const input = {
      ctx: {} as ProviderContext<SpApiConnection>,
      scopes: [{ job: 'invoices', scope: MP, window: WINDOW }],
      invoices: () => {
        throw new Error('not read');
      },
      exportOf: async () => undefined,
    } as unknown as ReconcileInput<SpApiConnection>;
    for await (const g of reconcileXmls(input, 'invoices', 'exports')) out.push(g);
    expect(out).toEqual([]);
  });
});
