import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { documentKey, spApiExportKey } from '../../aws/keys.ts';
import { publishMonths } from '../../engine/invoice-store.ts';
import type { ExportCreated } from '../../engine/provider-spec.ts';
import { storeBytesOnce } from '../../engine/store-raw.ts';
import type { PollMessage, Window } from '../../jobs/messages.ts';
import { numberEnv } from '../../runtime/env.ts';
import type { ExportCheck, ObjectMeta, OpenedDocument, ProviderContext } from '../types.ts';
import {
  createInvoicesExport,
  DOWNLOAD_OPERATION,
  getInvoicesDocument,
  getInvoicesExport,
  getInvoicesExports,
} from './api.ts';
import { exportDates } from './bounds.ts';
import { exportFilters, invoiceFilters } from './filters.ts';
import { send } from './http.ts';
import { readNfe } from './nfe.ts';
import { brazilDay } from './normalize.ts';
import {
  createExportResponseSchema,
  exportResponseSchema,
  exportsPageSchema,
  invoicesDocumentResponseSchema,
  type SpExport,
} from './schemas.ts';
import type { SpApiConnection } from './spec.ts';
import { readXmlIndex, UNDATED, writeXmlIndex, type XmlIndexEntry } from './xml-index.ts';
import { linkXmls } from './xml-linking.ts';
import { type ZipEntry, zipLimitsFromEnv, zipTee } from './zip-tee.ts';

/** How long an export may take from its creation before the poller gives up (SP_API_EXPORT_DEADLINE_HOURS). */
export const deadlineMs = () => numberEnv('SP_API_EXPORT_DEADLINE_HOURS', 12) * 3_600_000;

/** A claim older than this with no export id is a create that crashed midway (state-store's stale claim). */
const CLAIM_WINDOW_MS = 16 * 60_000;

/**
 * An export the provider may already hold for a claim that crashed between createInvoicesExport and
 * recording its id. The model's Export carries no filters, so "the same filters" can only be told by
 * when it was created: exactly one live export created while the stale claim was held is taken as its;
 * none or several (ambiguous) means a new export is created.
 */
export async function findStrayExport(
  ctx: ProviderContext<SpApiConnection>,
  marketplaceId: string,
  claimed: Date,
): Promise<SpExport | undefined> {
  const claimedAt = claimed.getTime();
  const args = {
    marketplaceId,
    dateStart: new Date(claimedAt - 60_000).toISOString(),
    dateEnd: new Date(claimedAt + CLAIM_WINDOW_MS).toISOString(),
    pageSize: 100,
  };
  const live: SpExport[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < 5; page++) {
    const res = await send(
      ctx.http,
      getInvoicesExports({ ...args, ...(nextToken ? { nextToken } : {}) }),
      exportsPageSchema,
    );
    live.push(...(res.data.exports ?? []).filter((e) => e.status !== 'ERROR'));
    nextToken = res.data.nextToken;
    if (!nextToken) break;
  }
  if (live.length === 1) return live[0];
  if (live.length > 1) {
    ctx.log.warn('stray exports found but ambiguous: creating a new one', {
      marketplaceId,
      candidates: live.length,
    });
  }
  return undefined;
}

/** createInvoicesExport for the window, with the connection's filters. Sent once: it makes an export at the provider. */
export async function createExport(
  ctx: ProviderContext<SpApiConnection>,
  marketplaceId: string,
  window: Window,
): Promise<ExportCreated> {
  const res = await send(
    ctx.http,
    createInvoicesExport({
      marketplaceId,
      ...exportDates(window),
      fileFormat: 'XML',
      ...exportFilters(invoiceFilters(ctx.connection)),
    }),
    createExportResponseSchema,
  );
  return { exportId: res.data.exportId };
}

export async function checkExport(
  message: PollMessage,
  ctx: ProviderContext<SpApiConnection>,
): Promise<ExportCheck> {
  const res = await send(ctx.http, getInvoicesExport({ exportId: message.exportId }), exportResponseSchema);
  const e = res.data.export;
  if (e.status === 'DONE') {
    return {
      state: 'DONE',
      documentIds: e.invoicesDocumentIds ?? [],
      details: {
        ...(e.generateExportStartedAt ? { generateExportStartedAt: e.generateExportStartedAt } : {}),
        ...(e.generateExportFinishedAt ? { generateExportFinishedAt: e.generateExportFinishedAt } : {}),
      },
    };
  }
  if (e.status === 'ERROR') {
    return {
      state: 'FAILED',
      code: 'EXPORT_ERROR',
      message: e.errorMessage || 'the export ended in ERROR without a message',
    };
  }
  return { state: 'PENDING', detail: e.status };
}

const stemOf = (name: string) => basename(name.replace(/\\/g, '/')).replace(/\.xml$/i, '') || 'document';

/**
 * Asks for the document's URL (getInvoicesDocument: one a minute; a second document in the same
 * invocation defers the poll) and streams the ZIP from it. The copy to exports/ is the poller's; on the
 * way, each XML is stored under documents/ and indexed, and once the ZIP is through the month files'
 * invoices are linked to their XMLs.
 */
export async function openDocument(
  message: PollMessage,
  documentId: string,
  ctx: ProviderContext<SpApiConnection>,
): Promise<OpenedDocument> {
  const conn = ctx.connection;
  const marketplaceId = message.scope;
  const res = await send(
    ctx.http,
    getInvoicesDocument({ invoicesDocumentId: documentId }),
    invoicesDocumentResponseSchema,
  );
  // The URL lives 30 seconds: nothing happens between asking for it and starting the GET.
  const download = await ctx.http.download(DOWNLOAD_OPERATION, res.data.invoicesDocument.invoicesDocumentUrl);

  const meta = (): ObjectMeta => ({
    sourceOperation: 'getInvoicesDocument',
    runId: ctx.runId,
    fetchedAt: ctx.now().toISOString(),
  });
  const entries: XmlIndexEntry[] = [];
  let skipped = 0;
  // The XMLs indexed so far, by month (read once each): their keys, bytes' sha256 and the export they came from.
  const indexed = new Map<
    string,
    Promise<Map<string, { sha256: string; exportId: string; documentId: string }>>
  >();
  const indexedFor = (month: string) => {
    let known = indexed.get(month);
    if (!known) {
      known = readXmlIndex(ctx.sink, conn.id, marketplaceId, month).then(
        (list) =>
          new Map(
            list.map((e) => [
              e.document.key,
              { sha256: e.document.sha256, exportId: e.exportId, documentId: e.documentId },
            ]),
          ),
      );
      indexed.set(month, known);
    }
    return known;
  };
  const onEntry = async ({ name, data }: ZipEntry) => {
    if (!/\.xml$/i.test(name)) {
      skipped += 1;
      return;
    }
    const stem = stemOf(name);
    let nfe: ReturnType<typeof readNfe>;
    try {
      nfe = readNfe(data.toString('utf8'));
    } catch (err) {
      ctx.reportProblem({ code: 'NFE_UNREADABLE', message: `${name}: ${(err as Error).message}` });
    }
    const key = documentKey('sp-api', conn.id, marketplaceId, nfe?.accessKey ?? stem, stem, 'xml');
    let month = UNDATED;
    if (nfe?.issuedAt) {
      try {
        month = brazilDay(nfe.issuedAt, 'dhEmi').slice(0, 7);
      } catch {
        ctx.reportProblem({
          code: 'NFE_BAD_DATE',
          message: `${name}: dhEmi ${JSON.stringify(nfe.issuedAt)}`,
          key,
        });
      }
    }
    // Each day's export holds every XML of its window. One an earlier export indexed with these bytes is
    // stored (the index names what is stored): neither asked for (a HEAD an XML a day) nor written again.
    // Else it is written unless the object holds these bytes, and counts only if this run stored it (a try
    // of this poll that broke off after it, or one whose receive then failed, stored it; the poller keeps
    // the counts of the try that lands).
    const sha256 = createHash('sha256').update(data).digest('hex');
    const known = (await indexedFor(month)).get(key);
    const stored =
      known?.sha256 === sha256 && !(known.exportId === message.exportId && known.documentId === documentId)
        ? { key, sha256, bytes: data.length, thisRun: false }
        : await storeBytesOnce(ctx, key, data, { ...meta(), contentType: 'application/xml' }, sha256);
    if (stored.thisRun) ctx.count('documents');
    entries.push({
      id: nfe?.accessKey ?? stem,
      ...(nfe?.accessKey ? { accessKey: nfe.accessKey } : {}),
      ...(nfe?.number ? { number: nfe.number } : {}),
      ...(nfe?.series ? { series: nfe.series } : {}),
      ...(nfe?.issuedAt ? { issuedAt: nfe.issuedAt } : {}),
      month,
      ...(nfe?.vProd ? { vProd: nfe.vProd } : {}),
      ...(nfe?.vNF ? { vNF: nfe.vNF } : {}),
      ...(nfe?.vNFParts ? { vNFParts: nfe.vNFParts } : {}),
      ...(nfe?.vICMSDeson ? { vICMSDeson: nfe.vICMSDeson } : {}),
      document: {
        type: nfe ? 'nfe-xml' : 'xml',
        key: stored.key,
        sha256: stored.sha256,
        bytes: stored.bytes,
      },
      exportId: message.exportId,
      documentId,
      entry: name,
    });
  };

  const tee = zipTee({ limits: zipLimitsFromEnv(), onEntry });
  pipeline(download.stream, tee.stream).catch(() => {
    // Surfaces through the tee to the copy, which fails and is retried with a fresh URL or poll.
  });

  return {
    key: spApiExportKey(conn.id, marketplaceId, message.exportId, documentId),
    operation: 'getInvoicesDocument',
    response: { ...download, stream: tee.stream },
    counter: 'documents',
    after: async (stored) => {
      const summary = await tee.done;
      if (summary.refused) {
        ctx.reportProblem({
          code: 'UNSAFE_ZIP',
          message: `export ${message.exportId} document ${documentId} refused (${summary.refused.code}): ${summary.refused.message}; ${summary.extracted} XML(s) stored before, none linked`,
          key: stored.key,
        });
        return { entries: summary.entries, extracted: summary.extracted, refused: summary.refused };
      }
      await writeXmlIndex(ctx.sink, conn.id, marketplaceId, entries, meta());
      // An undated XML could belong to any month: it is linked when the listing publishes its months.
      const months = [...new Set(entries.map((e) => e.month))].filter((m) => m !== UNDATED).sort();
      await publishMonths(
        ctx,
        months.map((month) => ({ provider: 'sp-api', connection: conn.id, scope: marketplaceId, month })),
        meta(),
        (file) => linkXmls(ctx, file),
        { skipEmpty: true },
      );
      ctx.log.info('export document opened', {
        exportId: message.exportId,
        documentId,
        xml: entries.length,
        skipped,
        months,
      });
      return { entries: summary.entries, xml: entries.length, skipped, months };
    },
  };
}
