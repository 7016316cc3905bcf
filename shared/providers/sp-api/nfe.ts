import { toDecimal } from '../../invoice/money.ts';

/**
 * The few NF-e (Brazilian electronic invoice, layout 4.00) fields the ingest needs, read from the XML
 * text without a full parser: the access key, number, series, issue time and the totals of ICMSTot.
 * Elements may carry a namespace prefix; comments are dropped first so commented-out values never count.
 */
export interface NfeFields {
  accessKey?: string;
  number?: string;
  series?: string;
  issuedAt?: string;
  /** Total of products (ICMSTot/vProd), exact decimal. */
  vProd?: string;
  /** Invoice total (ICMSTot/vNF), exact decimal. */
  vNF?: string;
}

const P = '(?:[A-Za-z_][\\w.-]*:)?';

function element(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${P}${name}(?:\\s[^>]*)?>\\s*([^<]*?)\\s*</${P}${name}>`).exec(xml);
  return m?.[1] || undefined;
}

function block(xml: string, name: string): string | undefined {
  return new RegExp(`<${P}${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${P}${name}>`).exec(xml)?.[1];
}

const decodeEntities = (s: string) =>
  s.replace(
    /&(lt|gt|amp|quot|apos);/g,
    (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e]!,
  );

/** Whether the document is an NF-e (or its nfeProc envelope) in the portalfiscal namespace. */
export function isNfe(xml: string): boolean {
  return new RegExp(`<${P}(?:NFe|nfeProc)\\b[^>]*portalfiscal\\.inf\\.br/nfe`).test(xml);
}

export function readNfe(xmlText: string): NfeFields | undefined {
  const xml = xmlText.replace(/<!--[\s\S]*?-->/g, '');
  if (!isNfe(xml)) return undefined;
  const out: NfeFields = {};
  const idAttr = new RegExp(`<${P}infNFe\\b[^>]*\\bId\\s*=\\s*["']NFe(\\d{44})["']`).exec(xml)?.[1];
  const ch = element(xml, 'chNFe');
  const accessKey = idAttr ?? (ch && /^\d{44}$/.test(ch) ? ch : undefined);
  if (accessKey) out.accessKey = accessKey;
  const ide = block(xml, 'ide') ?? '';
  const number = element(ide, 'nNF');
  if (number && /^\d{1,9}$/.test(number)) out.number = number;
  const series = element(ide, 'serie');
  if (series && /^\d{1,3}$/.test(series)) out.series = series;
  const issuedAt = element(ide, 'dhEmi') ?? element(ide, 'dEmi');
  if (issuedAt) out.issuedAt = decodeEntities(issuedAt);
  const totals = block(xml, 'ICMSTot');
  if (totals) {
    const vProd = element(totals, 'vProd');
    const vNF = element(totals, 'vNF');
    if (vProd) out.vProd = toDecimal(vProd, 'ICMSTot/vProd');
    if (vNF) out.vNF = toDecimal(vNF, 'ICMSTot/vNF');
  }
  return out;
}
