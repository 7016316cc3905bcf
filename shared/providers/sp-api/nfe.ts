import { addDecimals, negateDecimal, toDecimal } from '../../invoice/money.ts';

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
  /**
   * What vNF is made of by the layout's rule 610: vProd − vDesc + vST + vFCPST + vFrete + vSeg + vOutro +
   * vII + vIPI + vIPIDevol (+ ISSQNtot/vServ). An authorized NF-e adds up to it, so a vNF that does not
   * is a document that was altered or misread (reconcile.ts).
   */
  vNFParts?: string;
  /**
   * ICMSTot/vICMSDeson when not zero: since NT 2023.004 each item says whether its exempted ICMS is
   * deducted from vNF (indDeduzDeson), so vNF may lie anywhere from vNFParts − vICMSDeson to vNFParts.
   */
  vICMSDeson?: string;
}

const ADDED = ['vST', 'vFCPST', 'vFrete', 'vSeg', 'vOutro', 'vII', 'vIPI', 'vIPIDevol'] as const;

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
    if (out.vProd) {
      const amount = (from: string, name: string) => {
        const v = element(from, name);
        return v ? toDecimal(v, `${name === 'vServ' ? 'ISSQNtot' : 'ICMSTot'}/${name}`) : '0';
      };
      const services = block(xml, 'ISSQNtot');
      out.vNFParts = addDecimals(
        out.vProd,
        negateDecimal(amount(totals, 'vDesc')),
        ...ADDED.map((name) => amount(totals, name)),
        services ? amount(services, 'vServ') : '0',
      );
      const deson = amount(totals, 'vICMSDeson');
      if (addDecimals(deson) !== '0') out.vICMSDeson = deson;
    }
  }
  return out;
}
