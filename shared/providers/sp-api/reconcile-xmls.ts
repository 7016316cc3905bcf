import type { Gap, ReconcileInput, RunScope } from '../../engine/reconciliation.ts';
import { sameAmount } from '../../engine/reconciliation.ts';
import { monthsOf } from '../../engine/window.ts';
import type { NormalizedInvoice } from '../../invoice/model.ts';
import { addDecimals, negateDecimal } from '../../invoice/money.ts';
import type { Window } from '../../jobs/messages.ts';
import type { ExportRecord } from '../types.ts';
import { brazilDay } from './normalize.ts';
import type { SpApiConnection } from './spec.ts';
import { readXmlIndex, UNDATED, type XmlIndexEntry } from './xml-index.ts';
import { xmlFinder } from './xml-linking.ts';

/**
 * Statuses whose invoice has an NF-e the government authorized, so an export holds its XML. A cancelled
 * NF-e was authorized first (the cancellation is an event on it, the XML stays the fiscal record). A
 * REJECTED one was never authorized: there is no valid XML to expect. Any other status is an invoice
 * the government has not answered yet: its XML comes later, and as it is not final it is listed (and so
 * checked) again by the next run.
 */
const WITH_XML = new Set(['AUTHORIZED', 'CANCELED', 'CANCELLED']);

/**
 * SP-API control totals: the run's listed invoices (the table's, each window) against the XMLs its export
 * brought (the XML index), found by the lookup the month files are linked with (xmlFinder), so a gap
 * here is a line the invoices table holds without its XML.
 *
 * - `xml-missing`: an invoice whose status has an NF-e, without one in the index.
 * - `nfe-total-differs`: an NF-e whose vNF is not what its ICMSTot parts add up to (field `vNF`), or a
 *   landed line whose own total is not the NF-e's (field `total`; the model's listing carries no money, so
 *   only a line that came with a total of its own is compared).
 * - `not-listed`: an XML of this export, dated within the window, that no listed invoice matches.
 * - `export-not-done`: the window's export has no record or is not DONE, so its XMLs could not be
 *   checked. A run whose export failed is not reconciled at all (it settles FAILED), so this is what is
 *   left: a record lost or still pending when the run's messages were done.
 *
 * The window's edges are not judged where the two views may differ without anything being lost: the
 * export's dates go without a zone (bounds.ts) and it holds what existed when it was made, while the
 * listing runs on UTC bounds until later. So invoices issued on the window's last day or from the day the
 * export was made are not called missing (the next run's lookback checks them), and XMLs of the window's
 * first and last days are not called unlisted.
 */
export async function* reconcileXmls(
  input: ReconcileInput<SpApiConnection>,
  listingJob: string,
  exportJob: string,
): AsyncIterable<Gap> {
  const { ctx } = input;
  for (const { scope, window } of listingWindows(input.scopes, listingJob)) {
    const exported = input.scopes.some(
      (s) => s.job === exportJob && s.scope === scope && sameWindow(s.window, window),
    );
    // A run without an export for the window (one invoice by id) has nothing to hold its listing against.
    if (!exported) continue;
    const record = await input.exportOf(exportJob, scope, window);
    if (record?.state !== 'DONE') {
      yield {
        code: 'export-not-done',
        scope,
        field: 'export',
        expected: 'DONE',
        found: record?.state ?? null,
        message: `export ${record?.exportId ?? '(none)'} of ${window.from}..${window.to} did not finish${
          record?.error ? ` (${record.error.code})` : ''
        }: the listing's XMLs were not checked`,
      };
      continue;
    }
    const madeOn = brazilDay(record.createdAt, 'export createdAt');
    const lastChecked = madeOn < window.to ? madeOn : window.to;
    for (const month of monthsOf(window)) {
      const part = clip(window, month);
      const xmls = await readXmlIndex(ctx.sink, ctx.connection.id, scope, month);
      const find = xmlFinder(xmls);
      const matched = new Set<string>();
      for await (const { invoice, match } of input.invoices(scope, part)) {
        const xml = find({ id: invoice.invoiceId, ...match });
        if (xml) {
          matched.add(xml.id);
          yield* totalGaps(scope, invoice, xml);
        } else if (
          WITH_XML.has(invoice.status ?? '') &&
          invoice.issuedOn < lastChecked &&
          // An export an earlier run made (a rerun the same day reuses it) cannot hold the XML of an
          // invoice whose line as it is now (answered by the government) landed after it was made: the
          // next window's export will. This run's own export is held to every invoice.
          !(record.runId !== ctx.runId && invoice.fetchedAt > record.createdAt)
        ) {
          yield {
            code: 'xml-missing',
            scope,
            invoiceId: invoice.invoiceId,
            field: 'nfe-xml',
            expected: invoice.invoiceNumber,
            found: null,
            message: `${invoice.status} invoice of ${invoice.issuedOn} has no XML in export ${record.exportId} or any before it`,
          };
        }
      }
      yield* unlisted(scope, window, lastChecked, record, xmls, matched);
    }
  }
}

function* totalGaps(scope: string, invoice: NormalizedInvoice, xml: XmlIndexEntry): Iterable<Gap> {
  const at = `NF-e ${xml.accessKey ?? xml.id}`;
  if (xml.vNF !== undefined && xml.vNFParts !== undefined && !addsUp(xml.vNF, xml.vNFParts, xml.vICMSDeson)) {
    yield {
      code: 'nfe-total-differs',
      scope,
      invoiceId: invoice.invoiceId,
      field: 'vNF',
      expected: xml.vNFParts,
      found: xml.vNF,
      message: `${at}: ICMSTot/vNF is not what its parts add up to${
        xml.vICMSDeson ? ` (less up to vICMSDeson ${xml.vICMSDeson})` : ''
      }`,
    };
  }
  if (invoice.total !== null && xml.vNF !== undefined && !sameAmount(invoice.total, xml.vNF)) {
    yield {
      code: 'nfe-total-differs',
      scope,
      invoiceId: invoice.invoiceId,
      field: 'total',
      expected: invoice.total,
      found: xml.vNF,
      message: `${at}: the listed total is not the NF-e's vNF`,
    };
  }
}

/** Whether vNF is its parts, less between nothing and all of the exempted ICMS (NfeFields.vICMSDeson). */
function addsUp(vNF: string, parts: string, deson: string | undefined): boolean {
  const short = addDecimals(parts, negateDecimal(vNF));
  if (short === '0') return true;
  if (!deson || short.startsWith('-')) return false;
  return !addDecimals(deson, negateDecimal(short)).startsWith('-');
}

function* unlisted(
  scope: string,
  window: Window,
  lastChecked: string,
  record: ExportRecord,
  xmls: readonly XmlIndexEntry[],
  matched: ReadonlySet<string>,
): Iterable<Gap> {
  for (const xml of xmls) {
    if (xml.exportId !== record.exportId || xml.month === UNDATED || matched.has(xml.id)) continue;
    const day = dayOf(xml);
    if (!day || day <= window.from || day >= lastChecked) continue;
    yield {
      code: 'not-listed',
      scope,
      invoiceId: xml.accessKey ?? xml.id,
      field: 'invoice',
      expected: xml.document.key,
      found: null,
      message: `NF-e ${xml.number ?? '?'} series ${xml.series ?? '?'} of ${day} is in export ${record.exportId} (${xml.entry}) but no listed invoice matches it`,
    };
  }
}

function dayOf(xml: XmlIndexEntry): string | undefined {
  try {
    return xml.issuedAt ? brazilDay(xml.issuedAt, 'dhEmi') : undefined;
  } catch {
    return undefined;
  }
}

/** The listing's (scope, window)s, each once (a run may record one twice). */
function listingWindows(scopes: readonly RunScope[], job: string): RunScope[] {
  const seen = new Set<string>();
  return scopes.filter((s) => {
    const id = JSON.stringify([s.scope, s.window.from, s.window.to]);
    if (s.job !== job || seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

const sameWindow = (a: Window, b: Window) => a.from === b.from && a.to === b.to;

/** The part of a window within one month (YYYY-MM). */
function clip(window: Window, month: string): Window {
  const first = `${month}-01`;
  const last = `${month}-31`;
  return { from: window.from > first ? window.from : first, to: window.to < last ? window.to : last };
}
