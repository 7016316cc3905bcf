import { Readable } from 'node:stream';
import { amazonAdsError } from '../framework/errors.ts';
import { json, SimHttpError, type SimReply, type SimRequest } from '../framework/http.ts';
import { hash32 } from '../framework/seed.ts';
import type { RouteDef, SimContext } from '../framework/server.ts';
import { createSimServer } from '../framework/server.ts';
import { StableIds } from '../framework/stable-ids.ts';
import type { SimulatorContext, SimulatorFactory, StartedSimulator } from '../index.ts';
import {
  billingDocTypes,
  type ConnectionData,
  connectionData,
  governmentXml,
  pdfBytes,
  type SimInvoice,
  sha256,
} from './data.ts';
import { type GapInvoices, gapInvoices } from './gaps.ts';
import { exactJson } from './json-number.ts';
import { detailPayload, profilePayloads, statementCsv, summaryPayload } from './payloads.ts';
import { type AdsSimSettings, parseAdsSimSettings } from './settings.ts';

/**
 * Amazon Ads simulator (Advertising Billing and Profiles models): LWA bearer tokens checked against the
 * sandbox LWA server together with Amazon-Advertising-API-ClientId, billing profiles, invoice summaries
 * with cursor pages in both answer shapes, invoice details, billing documents and government documents
 * behind pre-signed expiring links, billing statements that take a (simulated) while and can fail, and
 * Amazon Ads' dynamic throttling: 429 with Retry-After. Each connection (the token's subject) sees its own
 * seeded profiles and invoices.
 *
 * Admin (below /__sandbox/): GET /data?connection=<id> (what a client should end up with),
 * POST /settings, POST /invoices/<id>/status {status}, GET /statements.
 */

const MEDIA = {
  invoices: 'application/vnd.invoices.v1.1+json',
  invoice: 'application/vnd.invoice.v1.1+json',
  documents: 'application/vnd.billingDocuments.v1+json',
  statements: 'application/vnd.createbillingstatementsrequest.v1+json',
} as const;

const DOC_TYPES = new Set([
  'CREDIT_MEMO',
  'GIS_CREDIT_MEMO',
  'GIS_INVOICE',
  'INVOICE',
  'PAYMENT_COMPLEMENT',
  'PREPAYMENT_RECEIPT',
]);
const STATUSES = new Set(['ISSUED', 'PAID_IN_FULL', 'PAID_IN_PART', 'WRITTEN_OFF']);
const ALL_STATUSES = new Set([...STATUSES, 'ACCUMULATING', 'PROCESSING']);
const LOCALES = new Set([
  'en_US',
  'ja_JP',
  'ar_SA',
  'de_DE',
  'fr_FR',
  'it_IT',
  'es_MX',
  'nl_NL',
  'sv_SE',
  'pl_PL',
  'tr_TR',
  'pt_BR',
]);
const COUNTRIES = new Set([
  'AE',
  'AU',
  'BE',
  'BR',
  'CA',
  'CL',
  'CO',
  'DE',
  'EG',
  'ES',
  'FR',
  'IE',
  'IN',
  'IT',
  'JP',
  'MX',
  'NG',
  'NL',
  'PL',
  'SA',
  'SE',
  'SG',
  'TR',
  'UK',
  'US',
  'ZA',
]);
/** A host on no allowlist, for links that must be refused. */
const FOREIGN_HOST = 'https://downloads.sandbox-elsewhere.example';

/** The same pre-signed link on a host no allowlist has (the simulator does not serve it). */
function elsewhere(url: string, foreign: boolean): string {
  if (!foreign) return url;
  const u = new URL(url);
  return `${FOREIGN_HOST}${u.pathname}${u.search}`;
}

/** Amazon Ads publishes no rates (throttling is dynamic); these are the simulator's own, per profile. */
const RATE = { rate: 10, burst: 20 };

interface Statement {
  id: string;
  connection: string;
  account: string;
  startDate: string;
  endDate: string;
  locale: string;
  countryCodes: string[];
  createdAt: number;
  readyAt: number;
  fails: boolean;
}

const bad = (details: string) => new SimHttpError(400, 'INVALID_ARGUMENT', details);

function isoFromCompact(value: string, field: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(value);
  if (!m) throw bad(`${field} must be in yyyyMMdd format`);
  return `${m[1]}-${m[2]}-${m[3]}`;
}

function validDay(value: string | undefined, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`))) {
    throw bad(`${field} must be an ISO-8601 date (YYYY-MM-DD)`);
  }
  return value;
}

function encodeCursor(c: { o: number; n: number; f: string }): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(text: string): { o: number; n: number; f: string } {
  try {
    const c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as {
      o: number;
      n: number;
      f: string;
    };
    if (Number.isInteger(c.o) && Number.isInteger(c.n) && typeof c.f === 'string') return c;
  } catch {}
  throw bad('cursor is not valid');
}

export interface AdsSimulator extends StartedSimulator {
  settings(): AdsSimSettings;
}

export async function startAmazonAdsSimulator(ctx: SimulatorContext): Promise<AdsSimulator> {
  let settings = parseAdsSimSettings(ctx.options);
  // The sandbox's start (pinned with its `clock`), so one seed and clock give the same invoices every run.
  const today = ctx.clock.simNow();
  const statementIds = new StableIds(`${ctx.seed}/amazon-ads/statements`);
  const data = new Map<string, ConnectionData>();
  const statusOverrides = new Map<string, { status: string; remainingZero: boolean }>();
  const statements = new Map<string, Statement>();
  let answers = 0;

  const dataFor = (connection: string): ConnectionData => {
    let d = data.get(connection);
    if (!d) {
      d = connectionData(connection, {
        seed: ctx.seed,
        size: ctx.size,
        today,
        profiles: settings.profiles,
        hugeAmount: settings.hugeAmount,
      });
      for (const [id, o] of statusOverrides) {
        const inv = d.byInvoiceId.get(id);
        if (inv) Object.assign(inv, { status: o.status, ...(o.remainingZero ? { remaining: 0n } : {}) });
      }
      data.set(connection, d);
    }
    return d;
  };

  // Which invoices the gap switches apply to, per connection: worked out once per settings.
  const gapMemo = new Map<string, GapInvoices>();
  const gapsFor = (d: ConnectionData): GapInvoices => {
    let g = gapMemo.get(d.connection);
    if (!g) {
      g = gapInvoices(d, settings.gaps);
      gapMemo.set(d.connection, g);
    }
    return g;
  };

  const authorize = (req: SimRequest): ConnectionData => {
    const check = ctx.lwa.check(req.bearerToken());
    if (!check.ok) {
      throw new SimHttpError(
        401,
        'UNAUTHORIZED',
        check.reason === 'expired'
          ? 'The access token has expired'
          : 'Not authorized: missing or unknown access token',
      );
    }
    const clientId = req.header('amazon-advertising-api-clientid');
    if (!clientId) throw bad('Amazon-Advertising-API-ClientId header is missing');
    if (clientId !== check.info.clientId) {
      throw new SimHttpError(
        403,
        'FORBIDDEN',
        'Amazon-Advertising-API-ClientId does not match the access token',
      );
    }
    const subject = check.info.subject;
    if (!subject || !ctx.connections.some((c) => c.id === subject)) {
      throw new SimHttpError(403, 'FORBIDDEN', 'The grant has no advertiser in this sandbox');
    }
    return dataFor(subject);
  };

  const profileOf = (d: ConnectionData, req: SimRequest, headers: string[]) => {
    const value = headers.map((h) => req.header(h)).find((v) => v);
    if (!value) throw bad(`${headers[0]} header is missing`);
    const profile = d.profiles.find((p) => p.profileId === value);
    if (!profile) throw new SimHttpError(403, 'FORBIDDEN', `No access to profile ${value}`);
    if (!profile.billing)
      throw new SimHttpError(403, 'FORBIDDEN', `Profile ${value} has no billing permission`);
    return profile;
  };

  /** `alternate`: each request's shape is fixed by the seed and the request, so a replay sees the same shapes. */
  const shaped = (req: SimRequest, payload: object, contentType: string): SimReply => {
    const turn = req.identity === undefined ? answers++ : hash32(ctx.seed, 'answerShape', req.identity);
    const wrapped =
      settings.answerShape === 'wrapped' || (settings.answerShape === 'alternate' && turn % 2 === 0);
    const body = exactJson(wrapped ? { status: 'SUCCESS', payload } : payload);
    return { status: 200, headers: { 'content-type': contentType }, body };
  };

  const exactReply = (status: number, value: unknown, contentType = 'application/json'): SimReply => ({
    status,
    headers: { 'content-type': contentType },
    body: exactJson(value),
  });

  const governmentLinks = (sim: SimContext, inv: SimInvoice) => {
    const foreign =
      settings.foreignLinks === true ||
      (Array.isArray(settings.foreignLinks) && settings.foreignLinks.includes(inv.id));
    const issue = (kind: 'pdf' | 'xml') =>
      elsewhere(
        sim.downloads.issue(`gov/${inv.id}/${kind}`, {
          ttlSeconds: settings.governmentLinkTtlSeconds,
        }),
        foreign,
      );
    return { pdf: issue('pdf'), xml: issue('xml') };
  };

  const routes: RouteDef[] = [
    {
      method: 'GET',
      path: '/v2/profiles',
      operation: 'listProfiles',
      rateLimit: RATE,
      handler: (req) => {
        const d = authorize(req);
        const program = req.query.apiProgram ?? 'campaign';
        return exactReply(200, profilePayloads(d, program === 'billing'));
      },
    },
    {
      method: 'GET',
      path: '/invoices',
      operation: 'getAdvertiserInvoices',
      rateLimit: RATE,
      rateLimitKey: (req) => req.header('amazon-advertising-api-scope') ?? '',
      handler: (req) => {
        const d = authorize(req);
        const profile = profileOf(d, req, ['amazon-advertising-api-scope']);
        const { cursor, count } = req.query;
        if (cursor !== undefined && count !== undefined) throw bad('count cannot be combined with cursor');
        let offset = 0;
        let size: number;
        let filter: string;
        if (cursor !== undefined) {
          const c = decodeCursor(cursor);
          offset = c.o;
          size = c.n;
          filter = c.f;
        } else {
          const n = count === undefined ? 100 : Number(count);
          if (!Number.isInteger(n) || n < 0 || n > 100) throw bad('count must be an integer from 0 to 100');
          size = n === 0 ? 100 : n;
          const start = validDay(req.query.startDate, 'startDate');
          const end = validDay(req.query.endDate, 'endDate');
          const statuses = req.query.invoiceStatuses?.split(',').filter(Boolean) ?? [];
          for (const s of statuses) if (!STATUSES.has(s)) throw bad(`invoiceStatuses: unknown status ${s}`);
          filter = JSON.stringify({ start, end, statuses });
        }
        const f = JSON.parse(filter) as { start?: string; end?: string; statuses: string[] };
        const hidden = gapsFor(d).notInApi;
        const matching = profile.invoices.filter(
          (inv) =>
            !hidden.has(inv.id) &&
            (!f.start || inv.invoiceDate >= f.start) &&
            (!f.end || inv.invoiceDate <= f.end) &&
            (f.statuses.length === 0 || f.statuses.includes(inv.status)),
        );
        const pageSize = Math.min(size, settings.pageSize);
        const page = matching.slice(offset, offset + pageSize);
        const next =
          offset + pageSize < matching.length
            ? encodeCursor({ o: offset + pageSize, n: size, f: filter })
            : null;
        return shaped(
          req,
          {
            invoiceSummaries: page.map((inv) =>
              settings.malformed[inv.id] === 'summary'
                ? { ...summaryPayload(inv), amountDue: undefined }
                : summaryPayload(inv),
            ),
            nextCursor: next,
            ...(offset > 0
              ? { previousCursor: encodeCursor({ o: Math.max(0, offset - pageSize), n: size, f: filter }) }
              : {}),
          },
          MEDIA.invoices,
        );
      },
    },
    {
      method: 'GET',
      path: '/invoices/:invoiceId',
      operation: 'getInvoice',
      rateLimit: RATE,
      rateLimitKey: (req) => req.header('amazon-advertising-api-scope') ?? '',
      handler: (req, sim) => {
        const d = authorize(req);
        const profile = profileOf(d, req, ['amazon-advertising-api-scope']);
        const inv = d.byInvoiceId.get(req.params.invoiceId!);
        if (!inv || inv.profileId !== profile.profileId || gapsFor(d).notInApi.has(inv.id)) {
          throw new SimHttpError(404, 'NOT_FOUND', `Invoice ${req.params.invoiceId} was not found`);
        }
        const detail = detailPayload(inv, inv.government ? governmentLinks(sim, inv) : undefined);
        return shaped(
          req,
          settings.malformed[inv.id] === 'detail' ? { ...detail, invoiceLines: undefined } : detail,
          MEDIA.invoice,
        );
      },
    },
    {
      method: 'GET',
      path: '/billing/documents/:documentId',
      operation: 'GetDocument',
      rateLimit: RATE,
      handler: (req, sim) => {
        const d = authorize(req);
        const profile = profileOf(d, req, ['amazon-ads-accountid', 'amazon-advertising-api-scope']);
        const requested = req.searchParams
          .getAll('docType')
          .flatMap((v) => v.split(','))
          .filter(Boolean);
        if (requested.length === 0) throw bad('docType is required');
        if (requested.length > 6) throw bad('docType: at most 6 values');
        for (const t of requested) if (!DOC_TYPES.has(t)) throw bad(`docType: unknown document type ${t}`);
        const inv = d.byInvoiceId.get(req.params.documentId!);
        if (!inv || inv.profileId !== profile.profileId || gapsFor(d).notInApi.has(inv.id)) {
          throw new SimHttpError(404, 'NOT_FOUND', `Document ${req.params.documentId} was not found`);
        }
        const offered = new Set(gapsFor(d).unofferedPdf.has(inv.id) ? [] : billingDocTypes(inv));
        const available = requested.filter((t) => offered.has(t));
        return json(
          200,
          {
            availableDocuments: available.map((t) => ({
              docType: t,
              contentType: 'application/pdf',
              fileName: `${inv.id}_${t}.pdf`,
              storagePath: sim.downloads.issue(`doc/${inv.id}/${t}`, {
                ttlSeconds: settings.documentLinkTtlSeconds,
              }),
            })),
            unavailableDocuments: requested
              .filter((t) => !offered.has(t))
              .map((t) => ({ docType: t, reason: 'DOCUMENT_NOT_GENERATED' })),
          },
          { contentType: MEDIA.documents },
        );
      },
    },
    {
      method: 'POST',
      path: '/billingStatements',
      operation: 'CreateBillingStatement',
      rateLimit: RATE,
      handler: (req, sim) => {
        const d = authorize(req);
        const account = req.header('amazon-ads-accountid');
        if (!account) throw new SimHttpError(403, 'FORBIDDEN', 'Amazon-Ads-AccountId header is missing');
        if (req.contentType !== MEDIA.statements) throw bad(`Content-Type must be ${MEDIA.statements}`);
        const body = (req.body ?? {}) as Record<string, unknown>;
        const date = (field: 'startDate' | 'endDate'): string => {
          const v = body[field];
          if (typeof v !== 'string') throw bad(`${field} is required`);
          const fmt = settings.statementDateFormat;
          if (/^\d{8}$/.test(v) && fmt !== 'yyyy-MM-dd') return isoFromCompact(v, field);
          if (/^\d{4}-\d{2}-\d{2}$/.test(v) && fmt !== 'yyyyMMdd') return v;
          throw bad(
            fmt === 'yyyy-MM-dd'
              ? `${field} must be in yyyy-MM-dd format`
              : `${field} must be in yyyyMMdd format`,
          );
        };
        const startDate = date('startDate');
        const endDate = date('endDate');
        if (startDate > endDate) throw bad('startDate must not be after endDate');
        if (typeof body.locale !== 'string' || !LOCALES.has(body.locale))
          throw bad('locale is missing or not supported');
        if (body.format !== undefined && body.format !== 'CSV') throw bad('format must be CSV');
        const countryCodes = body.countryCodes ?? [];
        if (!Array.isArray(countryCodes) || countryCodes.length > 30)
          throw bad('countryCodes: at most 30 country codes');
        for (const c of countryCodes)
          if (!COUNTRIES.has(String(c))) throw bad(`countryCodes: unknown country ${String(c)}`);
        // From the request, not random: the same statement request gets the same id (and fate) every run.
        const id = statementIds.uuid(d.connection, account, req.identity ?? req.rawBody.toString('utf8'));
        const now = sim.clock.simNow();
        statements.set(id, {
          id,
          connection: d.connection,
          account,
          startDate,
          endDate,
          locale: body.locale,
          countryCodes: countryCodes.map(String),
          createdAt: now,
          readyAt: now + settings.statementSeconds * 1000,
          fails: sim.faults.shouldFailExport(id),
        });
        return json(
          202,
          { [settings.statementIdField]: id, details: 'Billing statement creation request accepted' },
          { contentType: MEDIA.statements },
        );
      },
    },
    {
      method: 'GET',
      path: '/billingStatements/:billingStatementRequestId',
      operation: 'GetBillingStatement',
      rateLimit: RATE,
      handler: (req, sim) => {
        const d = authorize(req);
        const s = statements.get(req.params.billingStatementRequestId!);
        if (!s || s.connection !== d.connection || s.account !== req.header('amazon-ads-accountid')) {
          throw new SimHttpError(
            404,
            'NOT_FOUND',
            'No billing statement request found with given billingStatementRequestId',
          );
        }
        const reply = (value: object) => json(200, value, { contentType: MEDIA.statements });
        if (sim.clock.simNow() < s.readyAt) {
          return reply({
            reportStatus: 'IN_PROGRESS',
            details: 'Billing statement generation is in progress',
          });
        }
        if (s.fails) {
          return reply({
            reportStatus: 'FAILED',
            code: 'INTERNAL_SERVER_ERROR',
            details: 'Billing statement generation failed. Please request it again.',
          });
        }
        return reply({
          reportStatus: 'SUCCESS',
          details: 'Billing Statement request generated successfully.',
          s3DownloadLink: elsewhere(
            sim.downloads.issue(`statement/${s.id}`, { ttlSeconds: settings.statementLinkTtlSeconds }),
            settings.foreignLinks === true,
          ),
        });
      },
    },
  ];

  const statementFile = (s: Statement) => {
    const d = dataFor(s.connection);
    return statementCsv(d, s.startDate, s.endDate, s.countryCodes, gapsFor(d));
  };

  const server = await createSimServer({
    ...ctx.server,
    // The profile and account headers choose the data as much as the path does.
    identityKey: (req) =>
      [
        ctx.server.identityKey?.(req) ?? '',
        req.header('amazon-advertising-api-scope') ?? '',
        req.header('amazon-ads-accountid') ?? '',
      ].join('/'),
    errorBody: amazonAdsError,
    rateLimitHeaders: { limit: false, retryAfter: true },
    requestIdHeader: 'x-amzn-RequestId',
    routes,
    downloads: {
      operation: 'download',
      open: (key) => {
        const [kind, id, part] = key.split('/');
        let bytes: Buffer | undefined;
        let contentType = 'application/pdf';
        let filename: string | undefined;
        if (kind === 'statement') {
          const s = statements.get(id ?? '');
          if (s) {
            bytes = statementFile(s).csv;
            contentType = 'text/csv';
            filename = `billing-statement-${s.id}.csv`;
          }
        } else {
          const owner = [...data.values()].find((d) => d.byInvoiceId.has(id ?? ''));
          const inv = owner?.byInvoiceId.get(id ?? '');
          // A missing PDF: the link was issued, the object behind it is not there (404 NoSuchKey).
          const missing = inv !== undefined && gapsFor(owner!).missingPdf.has(inv.id);
          if (inv && kind === 'doc' && !missing) {
            bytes = pdfBytes(inv, part ?? 'INVOICE');
            filename = `${inv.id}_${part}.pdf`;
          } else if (inv && kind === 'gov') {
            bytes = part === 'xml' ? governmentXml(inv) : pdfBytes(inv, 'GOVERNMENT');
            contentType = part === 'xml' ? 'application/xml' : 'application/pdf';
          }
        }
        if (!bytes) return undefined;
        const b = bytes;
        return {
          contentLength: b.length,
          contentType,
          ...(filename ? { filename } : {}),
          body: () => Readable.from([b]),
        };
      },
    },
    admin: [
      {
        method: 'GET',
        path: '/data',
        handler: (req) => {
          const connection = req.query.connection ?? ctx.connections[0]?.id;
          if (!connection) return json(400, { error: 'connection: no connection in this sandbox' });
          const d = dataFor(connection);
          return exactReply(200, {
            connection,
            profiles: d.profiles.map((p) => ({
              profileId: p.profileId,
              billing: p.billing,
              countryCode: p.countryCode,
              invoices: p.invoices.map((inv) => ({
                ...summaryPayload(inv),
                government: Boolean(inv.government),
                documents: [
                  ...billingDocTypes(inv).map((t) => {
                    const b = pdfBytes(inv, t);
                    return { type: t, sha256: sha256(b), bytes: b.length };
                  }),
                  ...(inv.government
                    ? [
                        { type: 'GOVERNMENT_INVOICE', b: pdfBytes(inv, 'GOVERNMENT') },
                        { type: 'GOVERNMENT_INVOICE_XML', b: governmentXml(inv) },
                      ].map(({ type, b }) => ({ type, sha256: sha256(b), bytes: b.length }))
                    : []),
                ],
              })),
            })),
          });
        },
      },
      {
        method: 'POST',
        path: '/settings',
        handler: (req) => {
          try {
            const next = parseAdsSimSettings(req.body, settings);
            if (next.profiles !== settings.profiles || next.hugeAmount !== settings.hugeAmount) data.clear();
            settings = next;
            gapMemo.clear();
            return json(200, { settings });
          } catch (err) {
            return json(400, { error: (err as Error).message });
          }
        },
      },
      {
        method: 'POST',
        path: '/invoices/:invoiceId/status',
        handler: (req) => {
          const status = (req.body as { status?: unknown } | undefined)?.status;
          if (typeof status !== 'string' || !ALL_STATUSES.has(status)) {
            return json(400, { error: `status: expected one of ${[...ALL_STATUSES].join(', ')}` });
          }
          const id = req.params.invoiceId!;
          const remainingZero = status === 'PAID_IN_FULL' || status === 'WRITTEN_OFF';
          statusOverrides.set(id, { status, remainingZero });
          let found = false;
          for (const d of data.values()) {
            const inv = d.byInvoiceId.get(id);
            if (inv) {
              found = true;
              inv.status = status;
              if (remainingZero) inv.remaining = 0n;
            }
          }
          return json(found ? 200 : 404, found ? { invoiceId: id, status } : { error: `no invoice ${id}` });
        },
      },
      {
        method: 'GET',
        path: '/statements',
        handler: () =>
          json(200, {
            statements: [...statements.values()].map((s) => {
              const file = statementFile(s);
              return {
                id: s.id,
                connection: s.connection,
                account: s.account,
                startDate: s.startDate,
                endDate: s.endDate,
                locale: s.locale,
                countryCodes: s.countryCodes,
                fails: s.fails,
                rows: file.rows,
                bytes: file.csv.length,
                sha256: sha256(file.csv),
              };
            }),
          }),
      },
    ],
  });

  return {
    url: server.url,
    stats: () => server.stats(),
    close: () => server.close(),
    settings: () => settings,
  };
}

export const amazonAdsSimulator: SimulatorFactory = {
  name: 'amazon-ads',
  provider: 'amazon-ads',
  start: (ctx) => startAmazonAdsSimulator(ctx),
};
