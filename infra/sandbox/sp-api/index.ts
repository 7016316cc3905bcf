import { createHash } from 'node:crypto';
import { amazonErrorList } from '../framework/errors.ts';
import { json, SimHttpError, type SimRequest } from '../framework/http.ts';
import { createSimServer, type RouteDef } from '../framework/server.ts';
import type { DownloadSource } from '../framework/signed-url.ts';
import { StableIds } from '../framework/stable-ids.ts';
import type { SimulatorContext, SimulatorFactory, StartedSimulator } from '../index.ts';
import { ATTRIBUTES, generateInvoices, invoicePayload, nfeXml, type SimInvoice, sellerCnpj } from './data.ts';
import { type GapKind, planGaps } from './gaps.ts';
import { parseSpSimSettings, type SpSimSettings } from './settings.ts';
import { measure, type ZipSourceEntry, zipStream } from './zip.ts';

/**
 * SP-API Invoices 2024-06-19 simulator: the seven operations the ingest uses, behind the LWA token in
 * `x-amz-access-token` (each token's subject, a connection id, is the seller whose data it sees), with
 * the usage plans' rates per seller and operation (429 and `x-amzn-RateLimit-Limit` from the framework),
 * getInvoices' filters, explicit dates and nextToken pages (optionally empty ones), exports that take a
 * simulated while and may end in ERROR, ZIP documents of NF-e XMLs streamed from 30-second URLs.
 *
 * Admin (below /__sandbox/): GET /sp-api/invoices?connection=&marketplaceId= (what a client should end
 * up with, NF-e totals included), GET /sp-api/exports, POST /settings (see settings.ts).
 */

const BASE = '/tax/invoices/2024-06-19';

/** The usage plans of the model at 2db0db7 (rate in simulated requests per second). */
export const SP_RATES = {
  getInvoicesAttributes: { rate: 1, burst: 1 },
  getInvoices: { rate: 0.1, burst: 20 },
  getInvoice: { rate: 2, burst: 15 },
  createInvoicesExport: { rate: 0.167, burst: 1 },
  getInvoicesExports: { rate: 0.1, burst: 20 },
  getInvoicesExport: { rate: 2, burst: 15 },
  getInvoicesDocument: { rate: 0.0167, burst: 1 },
} as const;

const invalid = (details: string, message = 'Invalid Request.') =>
  new SimHttpError(400, '400', message, details);
const notFound = (details: string) =>
  new SimHttpError(404, 'NotFound', 'The resource specified does not exist.', details);
const NEXT_TOKEN_ALONE = 'Specifying nextToken with any other parameters will cause the request to fail.';

interface SimExport {
  exportId: string;
  connection: string;
  marketplaceId: string;
  createdAt: number;
  readyAt: number;
  fails: boolean;
  unsafe: SpSimSettings['unsafeZip'];
  invoiceIds: string[];
  documentIds: string[];
  request: Record<string, unknown>;
}

interface SimDocument {
  id: string;
  exportId: string;
  connection: string;
  invoiceIds: string[];
  unsafe: SpSimSettings['unsafeZip'];
  /** The gaps its XMLs carry, fixed when the export was made (its length is measured once). */
  gaps: Map<string, GapKind>;
  length?: number;
}

interface Filters {
  dateStart: number;
  dateEnd: number;
  statuses?: string[];
  invoiceType?: string;
  transactionType?: string;
  series?: string;
  externalInvoiceId?: string;
  transactionIdentifier?: { name: string; id: string };
}

function parseInstant(value: string, field: string, endOfDay = false): number {
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const ms = Date.parse(
    dateOnly
      ? `${value}T${endOfDay ? '23:59:59' : '00:00:00'}Z`
      : /[zZ]|[+-]\d{2}:?\d{2}$/.test(value)
        ? value
        : `${value}Z`,
  );
  if (Number.isNaN(ms)) throw invalid(`Invalid ${field}: '${value}' is not an ISO 8601 date-time.`);
  return ms;
}

function matches(inv: SimInvoice, f: Filters): boolean {
  if (inv.dateMs < f.dateStart || inv.dateMs > f.dateEnd) return false;
  if (f.statuses && !f.statuses.includes(inv.status)) return false;
  if (f.invoiceType && inv.invoiceType !== f.invoiceType) return false;
  if (f.transactionType && inv.transactionType !== f.transactionType) return false;
  if (f.series && inv.series !== f.series) return false;
  if (f.externalInvoiceId && String(inv.number) !== f.externalInvoiceId) return false;
  const t = f.transactionIdentifier;
  if (t && !inv.transactionIds.some((x) => x.name === t.name && x.id === t.id)) return false;
  return true;
}

/** Each option value list of the attributes, to refuse values the marketplace does not have. */
function checkOption(
  value: string | undefined,
  options: ReadonlyArray<{ value: string }>,
  field: string,
): void {
  if (value !== undefined && !options.some((o) => o.value === value)) {
    throw invalid(`Invalid ${field}: '${value}'.`);
  }
}

interface PageToken {
  /** Offset in the filtered list. */
  o: number;
  /** Page number (empty pages count). */
  p: number;
  /** Digest of the arguments the listing started with. */
  h: string;
}

const encodeToken = (t: PageToken) => Buffer.from(JSON.stringify(t)).toString('base64url');

function decodeToken(text: string): PageToken {
  try {
    const t = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as PageToken;
    if (Number.isInteger(t.o) && Number.isInteger(t.p) && typeof t.h === 'string') return t;
  } catch {}
  throw invalid(`Invalid nextToken: '${text.slice(0, 40)}'.`);
}

/** The listing's arguments (all but nextToken), order-free. */
function argsDigest(req: SimRequest): string {
  const pairs = [...req.searchParams].filter(([k]) => k !== 'nextToken').map(([k, v]) => `${k}=${v}`);
  return createHash('sha1').update(pairs.sort().join('&')).digest('base64url').slice(0, 12);
}

/**
 * A listing's paging, shared by getInvoices and getInvoicesExports: the next token (refused when it comes
 * with arguments other than those its listing started with) and the page size within the operation's limit.
 */
function paging(
  req: SimRequest,
  maxPageSize: number,
): { token: PageToken | undefined; digest: string; pageSize: number } {
  const q = req.query;
  const digest = argsDigest(req);
  let token: PageToken | undefined;
  if (q.nextToken !== undefined) {
    token = decodeToken(q.nextToken);
    const alone = [...req.searchParams.keys()].every((k) => k === 'nextToken' || k === 'marketplaceId');
    if (!alone && token.h !== digest) throw invalid(NEXT_TOKEN_ALONE);
  }
  const pageSize = q.pageSize === undefined ? 100 : Number(q.pageSize);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > maxPageSize) {
    throw invalid(`Invalid pageSize: '${q.pageSize}'. Minimum: 1, maximum: ${maxPageSize}.`);
  }
  return { token, digest, pageSize };
}

export interface SpApiSimulator extends StartedSimulator {
  settings(): SpSimSettings;
  /** Expected data of a connection's marketplace (sorted by date). */
  invoices(connection: string, marketplaceId: string): SimInvoice[];
  exports(): SimExport[];
}

export async function startSpApiSimulator(ctx: SimulatorContext): Promise<SpApiSimulator> {
  let settings = parseSpSimSettings(ctx.options);
  // The sandbox's start (pinned with its `clock`): the data's last day, the same on every run.
  const end = ctx.clock.simNow();
  const data = new Map<string, SimInvoice[]>();
  const exportsById = new Map<string, SimExport>();
  const documents = new Map<string, SimDocument>();
  const ids = new StableIds(`${ctx.seed}/sp-api/ids`);

  const invoicesOf = (connection: string, marketplaceId: string): SimInvoice[] => {
    const key = `${connection}\u0000${marketplaceId}`;
    let list = data.get(key);
    if (!list) {
      list = settings.marketplaces.includes(marketplaceId)
        ? generateInvoices({
            seed: ctx.seed,
            connection,
            marketplaceId,
            count: settings.invoices * ctx.size,
            days: settings.days,
            end,
          })
        : [];
      data.set(key, list);
    }
    return list;
  };

  /** The seller (connection id) the access token was issued for. */
  const seller = (req: SimRequest): string => {
    const check = ctx.lwa.check(req.header('x-amz-access-token'));
    if (!check.ok) {
      throw new SimHttpError(
        403,
        'Unauthorized',
        'Access to requested resource is denied.',
        check.reason === 'expired'
          ? 'The access token you provided has expired.'
          : 'The access token you provided is missing or invalid.',
      );
    }
    const subject = check.info.subject;
    if (!subject || !ctx.connections.some((c) => c.id === subject)) {
      throw new SimHttpError(
        403,
        'Unauthorized',
        'Access to requested resource is denied.',
        'The grant has no seller in this sandbox.',
      );
    }
    return subject;
  };

  const marketplaceOf = (value: string | undefined): string => {
    if (!value) throw invalid("Missing required parameter: 'marketplaceId'");
    if (!settings.marketplaces.includes(value)) throw invalid(`Invalid marketplaceId: '${value}'.`);
    return value;
  };

  const statusOf = (e: SimExport, now: number) => {
    if (now >= e.readyAt) return e.fails ? 'ERROR' : 'DONE';
    return now >= e.createdAt + (e.readyAt - e.createdAt) / 10 ? 'PROCESSING' : 'REQUESTED';
  };

  const exportPayload = (e: SimExport) => {
    const now = ctx.clock.simNow();
    const status = statusOf(e, now);
    const started = e.createdAt + (e.readyAt - e.createdAt) / 10;
    return {
      errorMessage: status === 'ERROR' ? 'The export could not be generated: internal processing error.' : '',
      exportId: e.exportId,
      ...(status !== 'REQUESTED' ? { generateExportStartedAt: new Date(started).toISOString() } : {}),
      ...(status === 'DONE' || status === 'ERROR'
        ? { generateExportFinishedAt: new Date(e.readyAt).toISOString() }
        : {}),
      invoicesDocumentIds: status === 'DONE' ? e.documentIds : [],
      status,
    };
  };

  // Buckets are per seller; a request without a valid token gets its own, so it meets the 403, not a 429.
  const rateKey = (req: SimRequest) =>
    ctx.lwa.verify(req.header('x-amz-access-token'))?.subject ?? `anonymous:${req.requestId}`;

  const routes: RouteDef[] = [
    {
      method: 'GET',
      path: `${BASE}/attributes`,
      operation: 'getInvoicesAttributes',
      rateLimit: SP_RATES.getInvoicesAttributes,
      rateLimitKey: rateKey,
      handler: (req) => {
        seller(req);
        marketplaceOf(req.query.marketplaceId);
        return json(200, { invoicesAttributes: ATTRIBUTES });
      },
    },
    {
      method: 'GET',
      path: `${BASE}/invoices`,
      operation: 'getInvoices',
      rateLimit: SP_RATES.getInvoices,
      rateLimitKey: rateKey,
      handler: (req) => {
        const who = seller(req);
        const q = req.query;
        const marketplaceId = marketplaceOf(q.marketplaceId);
        const { token, digest, pageSize } = paging(req, 200);
        if ((q.transactionIdentifierName === undefined) !== (q.transactionIdentifierId === undefined)) {
          throw invalid('transactionIdentifierName and transactionIdentifierId must be provided together.');
        }
        const statuses = req.searchParams
          .getAll('statuses')
          .flatMap((s) => s.split(','))
          .filter(Boolean);
        for (const s of statuses) checkOption(s, ATTRIBUTES.invoiceStatusOptions, 'statuses');
        checkOption(q.invoiceType, ATTRIBUTES.invoiceTypeOptions, 'invoiceType');
        checkOption(q.transactionType, ATTRIBUTES.transactionTypeOptions, 'transactionType');
        checkOption(
          q.transactionIdentifierName,
          ATTRIBUTES.transactionIdentifierNameOptions,
          'transactionIdentifierName',
        );
        if (q.sortOrder !== undefined && q.sortOrder !== 'ASC' && q.sortOrder !== 'DESC')
          throw invalid(`Invalid sortOrder: '${q.sortOrder}'.`);
        if (q.sortBy !== undefined && q.sortBy !== 'START_DATE_TIME')
          throw invalid(`Invalid sortBy: '${q.sortBy}'.`);
        const now = ctx.clock.simNow();
        const filters: Filters = {
          dateStart: q.dateStart ? parseInstant(q.dateStart, 'dateStart') : now - 86_400_000,
          dateEnd: q.dateEnd ? parseInstant(q.dateEnd, 'dateEnd', true) : now,
          ...(statuses.length ? { statuses } : {}),
          ...(q.invoiceType ? { invoiceType: q.invoiceType } : {}),
          ...(q.transactionType ? { transactionType: q.transactionType } : {}),
          ...(q.series ? { series: q.series } : {}),
          ...(q.externalInvoiceId ? { externalInvoiceId: q.externalInvoiceId } : {}),
          ...(q.transactionIdentifierName && q.transactionIdentifierId
            ? { transactionIdentifier: { name: q.transactionIdentifierName, id: q.transactionIdentifierId } }
            : {}),
        };
        if (filters.dateStart > filters.dateEnd) throw invalid('dateStart must be before dateEnd.');
        const all = invoicesOf(who, marketplaceId);
        const gaps = planGaps(all, settings.gaps);
        let list = all.filter((inv) => matches(inv, filters) && gaps.get(inv.id) !== 'unlisted');
        if (q.sortOrder !== 'ASC') list = [...list].reverse();
        const offset = token?.o ?? 0;
        const page = token?.p ?? 0;
        const empty = settings.emptyPageEvery > 0 && (page + 1) % settings.emptyPageEvery === 0;
        const take = empty ? 0 : Math.min(pageSize, settings.maxPageSize);
        const slice = list.slice(offset, offset + take);
        const next = offset + slice.length;
        const more = next < list.length;
        return json(200, {
          invoices: slice.map(invoicePayload),
          ...(more ? { nextToken: encodeToken({ o: next, p: page + 1, h: token?.h ?? digest }) } : {}),
        });
      },
    },
    {
      method: 'GET',
      path: `${BASE}/invoices/:invoiceId`,
      operation: 'getInvoice',
      rateLimit: SP_RATES.getInvoice,
      rateLimitKey: rateKey,
      handler: (req) => {
        const who = seller(req);
        const marketplaceId = marketplaceOf(req.query.marketplaceId);
        const inv = invoicesOf(who, marketplaceId).find((i) => i.id === req.params.invoiceId);
        if (!inv) throw notFound(`Invoice '${req.params.invoiceId}' was not found.`);
        return json(200, { invoice: invoicePayload(inv) });
      },
    },
    {
      method: 'POST',
      path: `${BASE}/exports`,
      operation: 'createInvoicesExport',
      rateLimit: SP_RATES.createInvoicesExport,
      rateLimitKey: rateKey,
      handler: (req, sim) => {
        const who = seller(req);
        const body = req.body as Record<string, unknown> | undefined;
        if (!body || typeof body !== 'object' || Array.isArray(body)) {
          throw invalid(
            "Missing required attribute(s): 'marketplaceId'.",
            'Request has missing or invalid parameters and cannot be parsed.',
          );
        }
        if (typeof body.marketplaceId !== 'string') {
          throw invalid(
            "Missing required attribute(s): 'marketplaceId'.",
            'Request has missing or invalid parameters and cannot be parsed.',
          );
        }
        const marketplaceId = marketplaceOf(body.marketplaceId);
        if (body.fileFormat !== undefined && body.fileFormat !== 'XML')
          throw invalid(`Invalid fileFormat: '${String(body.fileFormat)}'.`);
        const str = (k: string) => {
          const v = body[k];
          if (v === undefined) return undefined;
          if (typeof v !== 'string') throw invalid(`Invalid ${k}: expected a string.`);
          return v;
        };
        const statuses = body.statuses;
        if (
          statuses !== undefined &&
          (!Array.isArray(statuses) || statuses.length === 0 || statuses.some((s) => typeof s !== 'string'))
        ) {
          throw invalid('Invalid statuses: expected at least one status.');
        }
        for (const s of (statuses as string[] | undefined) ?? [])
          checkOption(s, ATTRIBUTES.invoiceStatusOptions, 'statuses');
        const t = body.transactionIdentifier as { name?: unknown; id?: unknown } | undefined;
        if (t !== undefined && (typeof t?.name !== 'string' || typeof t?.id !== 'string')) {
          throw invalid('Invalid transactionIdentifier: name and id are required.');
        }
        checkOption(str('invoiceType'), ATTRIBUTES.invoiceTypeOptions, 'invoiceType');
        checkOption(str('transactionType'), ATTRIBUTES.transactionTypeOptions, 'transactionType');
        const now = ctx.clock.simNow();
        const filters: Filters = {
          dateStart: str('dateStart') ? parseInstant(str('dateStart')!, 'dateStart') : now - 86_400_000,
          dateEnd: str('dateEnd') ? parseInstant(str('dateEnd')!, 'dateEnd', true) : now,
          ...(statuses ? { statuses: statuses as string[] } : {}),
          ...(str('invoiceType') ? { invoiceType: str('invoiceType') } : {}),
          ...(str('transactionType') ? { transactionType: str('transactionType') } : {}),
          ...(str('series') ? { series: str('series') } : {}),
          ...(str('externalInvoiceId') ? { externalInvoiceId: str('externalInvoiceId') } : {}),
          ...(t ? { transactionIdentifier: t as { name: string; id: string } } : {}),
        };
        // Keyed by seller and request, not by arrival: sellers exporting at once keep their ids (and fates).
        const exportId = ids.uuid('export', who, req.identity ?? req.rawBody.toString('utf8'));
        const all = invoicesOf(who, marketplaceId);
        const gaps = planGaps(all, settings.gaps);
        const invoiceIds = all.filter((inv) => matches(inv, filters)).map((inv) => inv.id);
        const documentIds: string[] = [];
        for (let i = 0; i < Math.max(1, invoiceIds.length); i += settings.invoicesPerDocument) {
          if (invoiceIds.length === 0) break;
          const id = ids.uuid('document', exportId, i);
          documentIds.push(id);
          documents.set(id, {
            id,
            exportId,
            connection: who,
            invoiceIds: invoiceIds.slice(i, i + settings.invoicesPerDocument),
            unsafe: settings.unsafeZip,
            gaps,
          });
        }
        exportsById.set(exportId, {
          exportId,
          connection: who,
          marketplaceId,
          createdAt: now,
          readyAt: now + settings.exportSeconds * 1000,
          fails: settings.failExports || sim.faults.shouldFailExport(exportId),
          unsafe: settings.unsafeZip,
          invoiceIds,
          documentIds,
          request: body,
        });
        return json(202, { exportId });
      },
    },
    {
      method: 'GET',
      path: `${BASE}/exports`,
      operation: 'getInvoicesExports',
      rateLimit: SP_RATES.getInvoicesExports,
      rateLimitKey: rateKey,
      handler: (req) => {
        const who = seller(req);
        const q = req.query;
        const marketplaceId = marketplaceOf(q.marketplaceId);
        const { token, digest, pageSize } = paging(req, 100);
        if (q.status !== undefined && !['REQUESTED', 'PROCESSING', 'DONE', 'ERROR'].includes(q.status)) {
          throw invalid(`Invalid status: '${q.status}'.`);
        }
        const now = ctx.clock.simNow();
        const from = q.dateStart ? parseInstant(q.dateStart, 'dateStart') : now - 86_400_000;
        const to = q.dateEnd ? parseInstant(q.dateEnd, 'dateEnd', true) : now;
        const list = [...exportsById.values()]
          .filter((e) => e.connection === who && e.marketplaceId === marketplaceId)
          .filter((e) => e.createdAt >= from && e.createdAt <= to)
          .filter((e) => q.status === undefined || statusOf(e, now) === q.status)
          .sort((a, b) => b.createdAt - a.createdAt);
        const offset = token?.o ?? 0;
        const slice = list.slice(offset, offset + pageSize);
        const next = offset + slice.length;
        return json(200, {
          exports: slice.map(exportPayload),
          ...(next < list.length
            ? { nextToken: encodeToken({ o: next, p: (token?.p ?? 0) + 1, h: token?.h ?? digest }) }
            : {}),
        });
      },
    },
    {
      method: 'GET',
      path: `${BASE}/exports/:exportId`,
      operation: 'getInvoicesExport',
      rateLimit: SP_RATES.getInvoicesExport,
      rateLimitKey: rateKey,
      handler: (req) => {
        const who = seller(req);
        const e = exportsById.get(req.params.exportId!);
        if (!e || e.connection !== who) throw notFound(`Export '${req.params.exportId}' was not found.`);
        return json(200, { export: exportPayload(e) });
      },
    },
    {
      method: 'GET',
      path: `${BASE}/documents/:invoicesDocumentId`,
      operation: 'getInvoicesDocument',
      rateLimit: SP_RATES.getInvoicesDocument,
      rateLimitKey: rateKey,
      handler: (req, sim) => {
        const who = seller(req);
        const doc = documents.get(req.params.invoicesDocumentId!);
        const e = doc ? exportsById.get(doc.exportId) : undefined;
        if (!doc || !e || doc.connection !== who || statusOf(e, ctx.clock.simNow()) !== 'DONE') {
          throw notFound(`Document '${req.params.invoicesDocumentId}' was not found.`);
        }
        return json(200, {
          invoicesDocument: {
            invoicesDocumentId: doc.id,
            invoicesDocumentUrl: sim.downloads.issue(`doc/${doc.id}`, {
              ttlSeconds: settings.documentUrlTtlSeconds,
            }),
          },
        });
      },
    },
  ];

  const entriesOf = (doc: SimDocument) =>
    function* (): Generator<ZipSourceEntry> {
      const e = exportsById.get(doc.exportId)!;
      const list = invoicesOf(doc.connection, e.marketplaceId);
      const byId = new Map(list.map((i) => [i.id, i]));
      const cnpj = sellerCnpj(ctx.seed, doc.connection);
      let n = 0;
      for (const id of doc.invoiceIds) {
        const inv = byId.get(id)!;
        if (doc.unsafe === 'traversal' && n === 3) {
          yield { name: '../../../escaped/evil.xml', data: () => new TextEncoder().encode('<evil/>') };
        }
        if (doc.unsafe === 'bomb' && n === 3) {
          yield { name: 'bomb.xml', data: () => new Uint8Array(settings.bombBytes).fill(0x20) };
        }
        const gap = doc.gaps.get(id);
        if (gap !== 'missingXml') {
          const off = gap === 'nfeTotalOff' ? 1 : 0;
          yield {
            name: `${inv.accessKey}-nfe.xml`,
            data: () => new TextEncoder().encode(nfeXml(inv, cnpj, off)),
          };
        }
        n += 1;
      }
      if (doc.unsafe === 'entries') {
        for (let i = 0; i < settings.extraEntries; i++) {
          yield {
            name: `extra/${String(i).padStart(6, '0')}.txt`,
            data: () => new TextEncoder().encode(`${i}\n`),
          };
        }
      }
    };

  const openDocument = async (key: string): Promise<DownloadSource | undefined> => {
    const doc = documents.get(key.replace(/^doc\//, ''));
    if (!doc) return undefined;
    doc.length ??= await measure(zipStream(entriesOf(doc)));
    return {
      contentLength: doc.length,
      contentType: 'application/zip',
      filename: `${doc.id}.zip`,
      body: () => zipStream(entriesOf(doc)),
    };
  };

  const server = await createSimServer({
    ...ctx.server,
    errorBody: amazonErrorList,
    rateLimitHeaders: { limit: true, retryAfter: false },
    downloads: { open: openDocument, operation: 'downloadInvoicesDocument' },
    routes,
    admin: [
      {
        method: 'GET',
        path: '/sp-api/invoices',
        handler: (req) => {
          const connection = req.query.connection ?? '';
          const marketplaceId = req.query.marketplaceId ?? settings.marketplaces[0]!;
          return json(200, { invoices: invoicesOf(connection, marketplaceId) });
        },
      },
      {
        method: 'GET',
        path: '/sp-api/exports',
        handler: () =>
          json(200, {
            exports: [...exportsById.values()].map((e) => ({
              ...e,
              status: statusOf(e, ctx.clock.simNow()),
            })),
          }),
      },
      {
        method: 'POST',
        path: '/settings',
        handler: (req) => {
          try {
            settings = parseSpSimSettings(req.body, settings);
          } catch (err) {
            return json(400, { error: (err as Error).message });
          }
          data.clear();
          return json(200, { settings });
        },
      },
    ],
  });

  return {
    url: server.url,
    stats: () => server.stats(),
    close: () => server.close(),
    settings: () => settings,
    invoices: invoicesOf,
    exports: () => [...exportsById.values()],
  };
}

export const spApiSimulator: SimulatorFactory = {
  name: 'sp-api',
  provider: 'sp-api',
  start: startSpApiSimulator,
};
