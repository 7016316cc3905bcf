import { createRng, formatMinorUnits, type Seed } from '../framework/seed.ts';

/**
 * Seeded invoices of one seller in one marketplace, each with the NF-e (layout 4.00, abridged) an export
 * ZIP holds for it. Numbers run per series and two series overlap (1 and 2 both start at 1001), so a
 * client that matches an XML by number alone, ignoring the series, links the wrong one.
 */

export interface SimItem {
  code: string;
  name: string;
  quantity: number;
  unitCents: number;
}

export interface SimInvoice {
  id: string;
  /** ISO instant (UTC, ms), what getInvoices answers in `date`. */
  date: string;
  dateMs: number;
  status: string;
  invoiceType: string;
  transactionType: string;
  series: string;
  number: number;
  transactionIds: Array<{ name: string; id: string }>;
  accessKey: string;
  cnf: string;
  items: SimItem[];
  freightCents: number;
  /** Totals in cents: vProd (items) and vNF (items + freight). */
  vProdCents: number;
  vNFCents: number;
}

export const ATTRIBUTES = {
  invoiceStatusOptions: [
    { description: 'The government authorized the invoice.', value: 'AUTHORIZED' },
    { description: 'The government rejected the invoice.', value: 'REJECTED' },
    { description: 'The invoice is canceled.', value: 'CANCELED' },
  ],
  invoiceTypeOptions: [
    { description: 'Sale to a customer.', value: 'CUSTOMER_SALES' },
    { description: 'Symbolic return.', value: 'SYMBOLIC_RETURN' },
    { description: 'Return from a customer.', value: 'CUSTOMER_RETURN' },
    { description: 'Remittance of goods.', value: 'REMITTANCE' },
  ],
  transactionIdentifierNameOptions: [
    { description: 'Business transaction identifier.', value: 'BUSINESS_TRANSACTION_ID' },
    { description: 'Shipment identifier.', value: 'SHIPMENT_ID' },
  ],
  transactionTypeOptions: [
    { description: 'Customer sales.', value: 'CUSTOMER_SALES' },
    { description: 'Customer returns.', value: 'CUSTOMER_RETURN' },
    { description: 'Inbound shipment to a fulfillment center.', value: 'INBOUND_SHIPMENT' },
  ],
};

const KINDS = [
  { weight: 75, invoiceType: 'CUSTOMER_SALES', transactionType: 'CUSTOMER_SALES' },
  { weight: 8, invoiceType: 'SYMBOLIC_RETURN', transactionType: 'CUSTOMER_SALES' },
  { weight: 7, invoiceType: 'CUSTOMER_RETURN', transactionType: 'CUSTOMER_RETURN' },
  { weight: 10, invoiceType: 'REMITTANCE', transactionType: 'INBOUND_SHIPMENT' },
];

function weighted(pick: number): (typeof KINDS)[number] {
  let acc = 0;
  for (const k of KINDS) {
    acc += k.weight;
    if (pick <= acc) return k;
  }
  return KINDS[0]!;
}

const PRODUCTS = [
  'Livro',
  'Cabo USB-C',
  'Fone de ouvido',
  'Caneca',
  'Mochila',
  'Lanterna',
  'Teclado',
  'Garrafa',
];

/** The access key's check digit: modulo 11 with weights 2..9 from the right. */
export function accessKeyDigit(first43: string): number {
  let sum = 0;
  let weight = 2;
  for (let i = first43.length - 1; i >= 0; i--) {
    sum += Number(first43[i]) * weight;
    weight = weight === 9 ? 2 : weight + 1;
  }
  const r = sum % 11;
  return r < 2 ? 0 : 11 - r;
}

/** Brasília time (UTC-03:00, no daylight saving since 2019): what dhEmi carries. */
export function brasilia(ms: number): string {
  return `${new Date(ms - 3 * 3_600_000).toISOString().slice(0, 19)}-03:00`;
}

export function sellerCnpj(seed: Seed, connection: string): string {
  return createRng(`${seed}/sp-api/cnpj/${connection}`).digits(14);
}

export function generateInvoices(opts: {
  seed: Seed;
  connection: string;
  marketplaceId: string;
  count: number;
  days: number;
  /** Epoch ms the data ends at (the simulator's start). */
  end: number;
}): SimInvoice[] {
  const rng = createRng(`${opts.seed}/sp-api/invoices/${opts.connection}/${opts.marketplaceId}`);
  const cnpj = sellerCnpj(opts.seed, opts.connection);
  const start = opts.end - opts.days * 86_400_000;
  const drafts = Array.from({ length: opts.count }, () => {
    const dateMs = Math.floor(rng.int(Math.ceil(start / 1000), Math.floor(opts.end / 1000) - 120)) * 1000;
    const kind = weighted(rng.int(1, 100));
    const roll = rng.int(1, 100);
    const status = roll <= 85 ? 'AUTHORIZED' : roll <= 95 ? 'CANCELED' : 'REJECTED';
    const series = rng.int(1, 10) <= 5 ? '1' : '2';
    const items = Array.from({ length: rng.int(1, 3) }, () => ({
      code: rng.id('SKU', 8),
      name: rng.pick(PRODUCTS),
      quantity: rng.int(1, 4),
      unitCents: rng.minorUnits(990, 49_990),
    }));
    return {
      id: rng.uuid(),
      dateMs,
      status,
      kind,
      series,
      items,
      freightCents: rng.int(0, 3) === 0 ? 0 : rng.minorUnits(500, 3_500),
      transactionId: rng.uuid(),
      cnf: rng.digits(8),
    };
  });
  drafts.sort((a, b) => a.dateMs - b.dateMs || (a.id < b.id ? -1 : 1));
  const nextNumber: Record<string, number> = { '1': 1001, '2': 1001 };
  return drafts.map((d) => {
    const number = nextNumber[d.series]!++;
    const yymm = brasilia(d.dateMs).slice(2, 7).replace('-', '');
    const first43 = `35${yymm}${cnpj}55${d.series.padStart(3, '0')}${String(number).padStart(9, '0')}1${d.cnf}`;
    const vProdCents = d.items.reduce((n, i) => n + i.quantity * i.unitCents, 0);
    return {
      id: d.id,
      date: new Date(d.dateMs).toISOString(),
      dateMs: d.dateMs,
      status: d.status,
      invoiceType: d.kind.invoiceType,
      transactionType: d.kind.transactionType,
      series: d.series,
      number,
      transactionIds: [{ name: 'BUSINESS_TRANSACTION_ID', id: d.transactionId }],
      accessKey: `${first43}${accessKeyDigit(first43)}`,
      cnf: d.cnf,
      items: d.items,
      freightCents: d.freightCents,
      vProdCents,
      vNFCents: vProdCents + d.freightCents,
    };
  });
}

/** The Invoice object of the model. */
export function invoicePayload(inv: SimInvoice): Record<string, unknown> {
  return {
    date: inv.date,
    errorCode: inv.status === 'REJECTED' ? '539' : '',
    externalInvoiceId: String(inv.number),
    govResponse: inv.status === 'REJECTED' ? 'Rejeição: Duplicidade de NF-e' : '',
    id: inv.id,
    invoiceType: inv.invoiceType,
    series: inv.series,
    status: inv.status,
    transactionIds: inv.transactionIds,
    transactionType: inv.transactionType,
  };
}

const money = (cents: number) => formatMinorUnits(cents, 2);

/**
 * The invoice's NF-e in its nfeProc envelope (authorization protocol included). `vNFOffCents` states a
 * vNF that many cents off what its parts add up to (settings.gaps.nfeTotalOff).
 */
export function nfeXml(inv: SimInvoice, cnpj: string, vNFOffCents = 0): string {
  const credit = /RETURN/.test(inv.invoiceType);
  const det = inv.items
    .map(
      (item, i) =>
        `<det nItem="${i + 1}"><prod><cProd>${item.code}</cProd><xProd>${item.name}</xProd><NCM>49019900</NCM>` +
        `<CFOP>${credit ? '1202' : '5102'}</CFOP><uCom>UN</uCom><qCom>${item.quantity}.0000</qCom>` +
        `<vUnCom>${money(item.unitCents)}</vUnCom><vProd>${money(item.quantity * item.unitCents)}</vProd></prod></det>`,
    )
    .join('');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<nfeProc xmlns="http://www.portalfiscal.inf.br/nfe" versao="4.00"><NFe xmlns="http://www.portalfiscal.inf.br/nfe">' +
    `<infNFe Id="NFe${inv.accessKey}" versao="4.00">` +
    `<ide><cUF>35</cUF><cNF>${inv.cnf}</cNF><natOp>${credit ? 'Devolucao de venda' : 'Venda de mercadoria'}</natOp>` +
    `<mod>55</mod><serie>${inv.series}</serie><nNF>${inv.number}</nNF><dhEmi>${brasilia(inv.dateMs)}</dhEmi>` +
    `<tpNF>${credit ? 0 : 1}</tpNF><finNFe>${credit ? 4 : 1}</finNFe><tpAmb>2</tpAmb></ide>` +
    `<emit><CNPJ>${cnpj}</CNPJ><xNome>Vendedor Sandbox Ltda</xNome><enderEmit><UF>SP</UF></enderEmit></emit>` +
    `<dest><CPF>00000000191</CPF><xNome>NF-E EMITIDA EM AMBIENTE DE HOMOLOGACAO</xNome></dest>${det}` +
    `<total><ICMSTot><vBC>0.00</vBC><vICMS>0.00</vICMS><vProd>${money(inv.vProdCents)}</vProd>` +
    `<vFrete>${money(inv.freightCents)}</vFrete><vDesc>0.00</vDesc><vNF>${money(inv.vNFCents + vNFOffCents)}</vNF></ICMSTot></total>` +
    `<infAdic><infCpl>Pedido Amazon ${inv.transactionIds[0]?.id ?? ''}</infCpl></infAdic>` +
    '</infNFe></NFe>' +
    `<protNFe versao="4.00"><infProt><tpAmb>2</tpAmb><chNFe>${inv.accessKey}</chNFe>` +
    '<cStat>100</cStat><xMotivo>Autorizado o uso da NF-e</xMotivo></infProt></protNFe></nfeProc>\n'
  );
}
