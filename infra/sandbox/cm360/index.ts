import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { googleApiError } from '../framework/errors.ts';
import { json, SimHttpError, type SimReply, type SimRequest } from '../framework/http.ts';
import { type RateLimit, RateLimiter } from '../framework/rate-limit.ts';
import { createSimServer, type RouteDef, type SimContext } from '../framework/server.ts';
import { DFATRAFFICKING_SCOPE } from '../google-oauth.ts';
import type { SimulatorContext, SimulatorFactory, StartedSimulator } from '../index.ts';
import {
  addMonths,
  type Cm360GroundTruth,
  type ExpectedInvoice,
  expectedInvoices,
  generateProfile,
  groundTruth,
  monthOf,
  type SimAdvertiser,
  type SimInvoice,
  type SimProfile,
  subtotalMicros,
  taxMicros,
} from './data.ts';
import { invoicePdf } from './invoice-pdf.ts';
import { type Cm360SimSettings, parseCm360SimSettings } from './settings.ts';

/**
 * Campaign Manager 360 simulator (dfareporting v4 discovery document; v5 paths answer the same):
 * advertisers.list and advertiserInvoices.list of the connection's user profile behind Google bearer
 * tokens (each token's subject, a connection id, is the user), invoices per issue month with
 * maxResults/pageToken pages, credits and rebills, micros as int64 strings (one invoice beyond 2^53),
 * campaign_summaries that add up to the micro, and a user-specific pdfUrl that needs the bearer token and
 * works for 7 simulated days. One advertiser per connection is billed on a consolidated invoice and its
 * invoices call fails. Quotas: 429 from the per-profile rate limit, 403 userRateLimitExceeded per user and
 * 403 rateLimitExceeded for the whole project, all in Google's error shape. Switched on in settings, some
 * invoices come with a control-totals gap: a campaign sum one micro off, a pdfUrl that answers 404.
 *
 * Admin (below /__sandbox/): GET /cm360/ground-truth?connection= (what a client should end up with),
 * GET /cm360/invoices?connection=&advertiserId=&issueMonth=, POST /settings (see settings.ts).
 */

const VERSIONS = ['v4', 'v5'] as const;
const PDF_PATH = '/billing/invoice-pdf/:invoiceId';
const AUTH_HELP =
  'Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';
const REALM = 'Bearer realm="https://accounts.google.com/"';

/** A Google error: `reason` goes to errors[].reason, `short` to errors[].message (see googleApiError). */
const googleError = (
  status: number,
  reason: string,
  message: string,
  short?: string,
  headers?: Record<string, string>,
) => new SimHttpError(status, reason, message, short, headers);

const invalid = (message: string) => googleError(400, 'invalid', message);

function unauthenticated(why: 'missing' | 'unknown' | 'expired'): SimHttpError {
  if (why === 'missing') {
    return googleError(
      401,
      'required',
      `Request is missing required authentication credential. ${AUTH_HELP}`,
      'Login Required.',
      { 'www-authenticate': REALM },
    );
  }
  return googleError(
    401,
    'authError',
    `Request had invalid authentication credentials. ${AUTH_HELP}`,
    'Invalid Credentials',
    { 'www-authenticate': `${REALM}, error="invalid_token"` },
  );
}

interface PageToken {
  /** Offset in the listing. */
  o: number;
  /** Digest of the listing's arguments, so a token is not replayed against another listing. */
  k: string;
}

const digest = (text: string) => createHash('sha1').update(text).digest('base64url').slice(0, 12);

function readPageToken(value: string | undefined, key: string): number {
  if (value === undefined || value === '') return 0;
  try {
    const t = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as PageToken;
    if (Number.isInteger(t.o) && t.o >= 0 && t.k === key) return t.o;
  } catch {}
  throw invalid('Invalid value for: pageToken is not a token of this listing.');
}

const pageToken = (o: number, k: string) => Buffer.from(JSON.stringify({ o, k })).toString('base64url');

/** maxResults: 0 or absent is the API's default (1000); the server sends at most `cap`. */
function pageSize(value: string | undefined, cap: number): number {
  if (value === undefined || value === '') return Math.min(1000, cap);
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n > 2_147_483_647) {
    throw invalid(`Invalid value for: maxResults is not an int32: ${value.slice(0, 40)}`);
  }
  return Math.min(n === 0 ? 1000 : n, cap);
}

function page<T>(list: readonly T[], req: SimRequest, key: string, cap: number) {
  const offset = readPageToken(req.query.pageToken, key);
  const size = pageSize(req.query.maxResults, cap);
  const items = list.slice(offset, offset + size);
  const next = offset + items.length;
  return { items, nextPageToken: next < list.length ? pageToken(next, key) : undefined };
}

function advertiserPayload(profile: SimProfile, adv: SimAdvertiser): Record<string, unknown> {
  return {
    kind: 'dfareporting#advertiser',
    id: adv.id,
    idDimensionValue: { kind: 'dfareporting#dimensionValue', dimensionName: 'advertiser', value: adv.id },
    name: adv.name,
    accountId: profile.accountId,
    subaccountId: profile.subaccountId,
    status: adv.status,
    suspended: false,
    floodlightConfigurationId: adv.floodlightConfigurationId,
    originalFloodlightConfigurationId: adv.floodlightConfigurationId,
  };
}

/** The Invoice of the model. Optional fields are left out when empty, as Google's JSON does. */
function invoicePayload(inv: SimInvoice, pdfUrl: string): Record<string, unknown> {
  const sub = subtotalMicros(inv);
  const tax = taxMicros(inv);
  return {
    kind: 'dfareporting#invoice',
    id: inv.id,
    invoiceType: inv.invoiceType,
    issueDate: inv.issueDate,
    dueDate: inv.dueDate,
    serviceStartDate: inv.serviceStartDate,
    serviceEndDate: inv.serviceEndDate,
    currencyCode: inv.currencyCode,
    paymentsAccountId: inv.paymentsAccountId,
    paymentsProfileId: inv.paymentsProfileId,
    ...(inv.purchaseOrderNumber ? { purchaseOrderNumber: inv.purchaseOrderNumber } : {}),
    ...(inv.correctedInvoiceId ? { correctedInvoiceId: inv.correctedInvoiceId } : {}),
    ...(inv.replacedInvoiceIds ? { replacedInvoiceIds: inv.replacedInvoiceIds } : {}),
    subtotalAmountMicros: sub.toString(),
    totalTaxAmountMicros: tax.toString(),
    totalAmountMicros: (sub + tax).toString(),
    pdfUrl,
    campaign_summaries: inv.campaigns.map((c, i) => ({
      campaignId: c.campaignId,
      ...(c.billingInvoiceCode ? { billingInvoiceCode: c.billingInvoiceCode } : {}),
      preTaxAmountMicros: c.preTaxMicros.toString(),
      taxAmountMicros: c.taxMicros.toString(),
      totalAmountMicros: (
        c.preTaxMicros +
        c.taxMicros +
        (i === 0 && inv.flaw === 'campaign-sum-off' ? 1n : 0n)
      ).toString(),
    })),
  };
}

interface ConnectionData {
  profile: SimProfile;
  invoices: Map<string, SimInvoice>;
}

export interface Cm360Simulator extends StartedSimulator {
  settings(): Cm360SimSettings;
  profile(connection: string): SimProfile;
  /** Expected invoices of an advertiser's issue month, in list order; `consolidated` when the call fails. */
  expectedInvoices(
    connection: string,
    advertiserId: string,
    issueMonth: string,
  ): ExpectedInvoice[] | 'consolidated';
  groundTruth(connection: string): Cm360GroundTruth;
}

export async function startCm360Simulator(ctx: SimulatorContext): Promise<Cm360Simulator> {
  let settings = parseCm360SimSettings(ctx.options);
  const defaultLastMonth = addMonths(monthOf(ctx.clock.simNow()), -1);
  const data = new Map<string, ConnectionData>();
  const quota = new RateLimiter(ctx.clock);
  // The routes hold this object: a settings change takes effect on the next request.
  const routeRate: RateLimit = { ...settings.rateLimit };
  const urlKey = randomBytes(32);

  const dataOf = (connection: string): ConnectionData => {
    let d = data.get(connection);
    if (!d) {
      const profile = generateProfile({
        seed: ctx.seed,
        connection,
        profileId: ctx.connections.find((c) => c.id === connection)?.profileId,
        size: ctx.size,
        advertisers: settings.advertisers,
        months: settings.months,
        lastIssueMonth: settings.lastIssueMonth ?? defaultLastMonth,
        hugeAmounts: settings.hugeAmounts,
        campaignSumOff: settings.campaignSumOff,
        pdfMissing: settings.pdfMissing,
      });
      const invoices = new Map<string, SimInvoice>();
      for (const adv of profile.advertisers)
        for (const list of adv.invoices.values()) for (const inv of list) invoices.set(inv.id, inv);
      d = { profile, invoices };
      data.set(connection, d);
    }
    return d;
  };

  /** The caller's data: a valid token with the trafficking scope, within the project's and user's quota. */
  const authorize = (req: SimRequest): ConnectionData => {
    const check = ctx.google.check(req.bearerToken());
    if (!check.ok) throw unauthenticated(check.reason);
    if (!check.info.scopes.includes(DFATRAFFICKING_SCOPE)) {
      throw googleError(
        403,
        'insufficientPermissions',
        'Request had insufficient authentication scopes.',
        'Insufficient Permission',
      );
    }
    const subject = check.info.subject;
    if (!subject || !ctx.connections.some((c) => c.id === subject)) {
      throw googleError(403, 'forbidden', 'The caller has no Campaign Manager 360 user in this sandbox.');
    }
    if (!quota.take('project', settings.projectQuota).allowed) {
      throw googleError(403, 'rateLimitExceeded', 'Rate Limit Exceeded');
    }
    if (!quota.take('user', settings.userQuota, subject).allowed) {
      throw googleError(403, 'userRateLimitExceeded', 'User Rate Limit Exceeded');
    }
    return dataOf(subject);
  };

  const profileOf = (req: SimRequest): ConnectionData => {
    const d = authorize(req);
    const id = req.params.profileId!;
    if (!/^\d+$/.test(id)) throw invalid(`Invalid value for: profileId is not an int64: ${id.slice(0, 40)}`);
    // The live message for someone else's profile is not documented; a 403 is what a client must expect.
    if (id !== d.profile.profileId) {
      throw googleError(403, 'forbidden', `The current user does not have access to user profile ${id}.`);
    }
    return d;
  };

  const signUrl = (connection: string, invoiceId: string, issued: string) =>
    createHmac('sha256', urlKey).update(`${connection}\n${invoiceId}\n${issued}`).digest('base64url');

  const pdfUrl = (sim: SimContext, connection: string, inv: SimInvoice) => {
    const issued = String(sim.clock.simNow());
    const query = new URLSearchParams({ ts: issued, sig: signUrl(connection, inv.id, issued) });
    return `${sim.url}${PDF_PATH.replace(':invoiceId', inv.id)}?${query}`;
  };

  const listAdvertisers = (req: SimRequest): SimReply => {
    const { profile } = profileOf(req);
    const q = req.query;
    const ids = req.searchParams
      .getAll('ids')
      .flatMap((v) => v.split(','))
      .filter(Boolean);
    if (q.status !== undefined && q.status !== 'APPROVED' && q.status !== 'ON_HOLD') {
      throw invalid(`Invalid value for: status: ${q.status.slice(0, 40)}`);
    }
    const sortField = q.sortField ?? 'ID';
    const sortOrder = q.sortOrder ?? 'ASCENDING';
    if (sortField !== 'ID' && sortField !== 'NAME')
      throw invalid(`Invalid value for: sortField: ${sortField.slice(0, 40)}`);
    if (sortOrder !== 'ASCENDING' && sortOrder !== 'DESCENDING') {
      throw invalid(`Invalid value for: sortOrder: ${sortOrder.slice(0, 40)}`);
    }
    const search = q.searchString?.replace(/\*/g, '').toLowerCase();
    const list = profile.advertisers
      .filter((a) => ids.length === 0 || ids.includes(a.id))
      .filter((a) => !q.status || a.status === q.status)
      .filter((a) => !search || a.name.toLowerCase().includes(search) || a.id.includes(search))
      .sort((a, b) => {
        const cmp =
          sortField === 'NAME' ? a.name.localeCompare(b.name) : BigInt(a.id) < BigInt(b.id) ? -1 : 1;
        return sortOrder === 'ASCENDING' ? cmp : -cmp;
      });
    const args = [...req.searchParams]
      .filter(([k]) => k !== 'pageToken' && k !== 'maxResults')
      .map(([k, v]) => `${k}=${v}`)
      .sort();
    const { items, nextPageToken } = page(
      list,
      req,
      digest(`advertisers/${args.join('&')}`),
      settings.maxPageSize,
    );
    return json(200, {
      kind: 'dfareporting#advertisersListResponse',
      ...(items.length ? { advertisers: items.map((a) => advertiserPayload(profile, a)) } : {}),
      ...(nextPageToken ? { nextPageToken } : {}),
    });
  };

  const listInvoices = (req: SimRequest, sim: SimContext): SimReply => {
    const { profile } = profileOf(req);
    const advertiserId = req.params.advertiserId!;
    if (!/^\d+$/.test(advertiserId)) {
      throw invalid(`Invalid value for: advertiserId is not an int64: ${advertiserId.slice(0, 40)}`);
    }
    const adv = profile.advertisers.find((a) => a.id === advertiserId);
    if (!adv) throw googleError(404, 'notFound', `Advertiser ${advertiserId} was not found.`);
    const month = req.query.issueMonth;
    if (month === undefined || month === '')
      throw googleError(400, 'required', 'Required parameter: issueMonth');
    if (!/^\d{4}(0[1-9]|1[0-2])$/.test(month)) {
      throw invalid(`Invalid value for: issueMonth must be YYYYMM: ${month.slice(0, 40)}`);
    }
    if (adv.billingLevel === 'CONSOLIDATED') {
      // The live wording is not documented ("only works if the billing profile invoice level is set to
      // either advertiser or campaign non-consolidated"): a 400 FAILED_PRECONDITION says "this account's
      // setup, not your request" and is not worth a retry, which is how a client must take it.
      throw googleError(
        400,
        'failedPrecondition',
        `Invoices are only available when the billing profile invoice level is advertiser or campaign (non-consolidated); advertiser ${adv.id} is invoiced at a consolidated level.`,
      );
    }
    const list = adv.invoices.get(month) ?? [];
    const { items, nextPageToken } = page(
      list,
      req,
      digest(`invoices/${adv.id}/${month}`),
      settings.maxPageSize,
    );
    return json(200, {
      kind: 'dfareporting#advertiserInvoicesListResponse',
      ...(items.length
        ? { invoices: items.map((inv) => invoicePayload(inv, pdfUrl(sim, profile.connection, inv))) }
        : {}),
      ...(nextPageToken ? { nextPageToken } : {}),
    });
  };

  const downloadPdf = (req: SimRequest, sim: SimContext): SimReply => {
    const d = authorize(req);
    const id = req.params.invoiceId!;
    const issued = req.query.ts ?? '';
    const given = Buffer.from(req.query.sig ?? '', 'base64url');
    const expected = Buffer.from(signUrl(d.profile.connection, id, issued), 'base64url');
    const inv = d.invoices.get(id);
    // The signature covers the user: another user's token, or an edited link, is refused.
    if (!inv || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw googleError(403, 'forbidden', 'The current user cannot download this invoice.');
    }
    if (inv.flaw === 'pdf-missing') {
      throw googleError(404, 'notFound', `Invoice PDF ${id} was not found.`);
    }
    if (sim.clock.simNow() > Number(issued) + settings.pdfUrlTtlSeconds * 1000) {
      throw googleError(
        403,
        'forbidden',
        'The invoice link has expired; list the invoices again for a new pdfUrl.',
      );
    }
    const bytes = invoicePdf(d.profile, inv);
    return {
      status: 200,
      headers: {
        'content-type': 'application/pdf',
        'content-disposition': `attachment; filename="${inv.id}.pdf"`,
      },
      body: bytes,
    };
  };

  const routes: RouteDef[] = [
    ...VERSIONS.flatMap((v): RouteDef[] => [
      {
        method: 'GET',
        path: `/dfareporting/${v}/userprofiles/:profileId/advertisers`,
        operation: 'advertisers.list',
        rateLimit: routeRate,
        rateLimitKey: (req) => req.params.profileId ?? '',
        handler: listAdvertisers,
      },
      {
        method: 'GET',
        path: `/dfareporting/${v}/userprofiles/:profileId/advertisers/:advertiserId/invoices`,
        operation: 'advertiserInvoices.list',
        rateLimit: routeRate,
        rateLimitKey: (req) => req.params.profileId ?? '',
        handler: listInvoices,
      },
    ]),
    {
      method: 'GET',
      path: PDF_PATH,
      operation: 'invoicePdf',
      rateLimit: routeRate,
      // The link's signing time and signature (pdfUrl) change with every listing: the PDF asked for is the
      // same request whenever it was listed, so one seed gives it the same faults on every run.
      volatileParams: ['ts', 'sig'],
      handler: downloadPdf,
    },
  ];

  const server = await createSimServer({
    ...ctx.server,
    errorBody: googleApiError,
    // Google sends neither x-amzn-RateLimit-Limit nor Retry-After on its quota errors.
    rateLimitHeaders: { limit: false, retryAfter: false },
    requestIdHeader: null,
    routes,
    admin: [
      {
        method: 'GET',
        path: '/cm360/ground-truth',
        handler: (req) => {
          const connection = req.query.connection ?? ctx.connections[0]?.id;
          if (!connection) return json(400, { error: 'connection: no cm360 connection in this sandbox' });
          return json(200, groundTruth(dataOf(connection).profile));
        },
      },
      {
        method: 'GET',
        path: '/cm360/invoices',
        handler: (req) => {
          const { connection, advertiserId, issueMonth } = req.query;
          if (!connection || !advertiserId || !issueMonth) {
            return json(400, { error: 'connection, advertiserId and issueMonth are required' });
          }
          return json(200, {
            invoices: expectedInvoices(dataOf(connection).profile, advertiserId, issueMonth),
          });
        },
      },
      {
        method: 'POST',
        path: '/settings',
        handler: (req) => {
          try {
            settings = parseCm360SimSettings(req.body, settings);
          } catch (err) {
            return json(400, { error: (err as Error).message });
          }
          Object.assign(routeRate, settings.rateLimit);
          quota.reset();
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
    profile: (connection) => dataOf(connection).profile,
    expectedInvoices: (connection, advertiserId, issueMonth) =>
      expectedInvoices(dataOf(connection).profile, advertiserId, issueMonth),
    groundTruth: (connection) => groundTruth(dataOf(connection).profile),
  };
}

export const cm360Simulator: SimulatorFactory = {
  name: 'cm360',
  provider: 'cm360',
  start: startCm360Simulator,
};
