import { amazonErrorList } from '../framework/errors.ts';
import { json, SimHttpError, type SimRequest } from '../framework/http.ts';
import { hash32 } from '../framework/seed.ts';
import { createSimServer, type RouteDef } from '../framework/server.ts';
import type { SimulatorContext, SimulatorFactory, StartedSimulator } from '../index.ts';
import { type BusinessRegion, type ConnectionData, DAY_MS, generateConnectionData, lineKey } from './data.ts';
import { type ExpectedInvoice, expectedInvoices } from './expected.ts';
import { invoiceDetailsOf, paymentResult, transactionPayload } from './payloads.ts';
import { type BusinessSimSettings, parseBusinessSimSettings } from './settings.ts';

/**
 * Amazon Business Reconciliation API 2021-01-08 simulator: getTransactions (feed-date windows, pages
 * with a nextPageToken sent alone), getInvoiceDetailsByOrderLineItems and getBatchInvoicePaymentDetails
 * (1 to 25 per call), behind the LWA token in `x-amz-access-token` (the token's subject, a connection id,
 * is the customer whose purchases it sees), at the model's 2 requests/s, burst 10, per customer and
 * operation, with `x-amzn-RateLimit-Limit` and 429s from the framework.
 *
 * One base URL serves every region (the real hosts are na|eu|jp.business-api.amazon.com): a connection's
 * region comes from settings.regions, else from its config region (FE is JP), else NA. It decides the
 * marketplace, the currency and the JP-only invoice fields.
 *
 * Switched on in settings, some invoices and line items come with a control-totals gap: a total one minor
 * unit off its lines, a line item no invoice lists, payment details that answer ERROR.
 *
 * Admin (below /__sandbox/): GET /amazon-business/invoices?connection=&feedStartDate=&feedEndDate=[&at=]
 * (the ground truth: what a client should end up with, see expected.ts), GET /amazon-business/data?connection=
 * (region and data window), POST /settings (see settings.ts).
 */

export const BASE = '/reconciliation/2021-01-08';

/** The usage plan the model states for all three operations (simulated requests per second). */
export const BUSINESS_RATE = { rate: 2, burst: 10 } as const;

export const MAX_ITEMS_PER_CALL = 25;

const invalid = (message: string, details?: string) =>
  new SimHttpError(400, 'INVALID_REQUEST_PARAMETER', message, details);

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/** An ISO 8601 date-time (a missing offset is read as UTC); the model's 400 message otherwise. */
export function parseDateTime(value: string): number {
  const ms = DATE_TIME.test(value)
    ? Date.parse(/[zZ]|[+-]\d{2}:?\d{2}$/.test(value) ? value : `${value}Z`)
    : NaN;
  const day = value.slice(0, 10);
  if (Number.isNaN(ms) || new Date(`${day}T00:00:00Z`).toISOString().slice(0, 10) !== day) {
    throw invalid(`Input date [${value}] is not in the expected ISO8601 format.`);
  }
  return ms;
}

const CONFIG_REGION: Record<string, BusinessRegion> = { NA: 'NA', EU: 'EU', FE: 'JP', JP: 'JP' };

interface PageToken {
  /** Connection the listing belongs to (a hash: the token is opaque, not a secret). */
  c: number;
  f: number;
  t: number;
  o: number;
}

const encodeToken = (t: PageToken) => Buffer.from(JSON.stringify(t)).toString('base64url');

function decodeToken(text: string): PageToken {
  try {
    const t = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as PageToken;
    if ([t.c, t.f, t.t, t.o].every(Number.isSafeInteger)) return t;
  } catch {}
  throw invalid('The request contains invalid parameters.', 'Invalid nextPageToken.');
}

/** A POST body's list, checked against the model (1 to 25 entries). */
function listOf(req: SimRequest, field: string): unknown[] {
  if (req.rawBody.length > 0 && req.body === undefined) {
    throw new SimHttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'The request body must be application/json.');
  }
  const body = req.body as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body) || body[field] === undefined) {
    throw invalid('Missing required request parameters.', `'${field}' is required.`);
  }
  const list = body[field];
  if (!Array.isArray(list) || list.length < 1 || list.length > MAX_ITEMS_PER_CALL) {
    throw invalid(
      'The request contains invalid parameters.',
      `The ${field} array must contain between 1 and ${MAX_ITEMS_PER_CALL} entries${Array.isArray(list) ? `; it has ${list.length}` : ''}.`,
    );
  }
  return list;
}

export interface AmazonBusinessSimulator extends StartedSimulator {
  settings(): BusinessSimSettings;
  region(connection: string): BusinessRegion;
  /** The connection's seeded data (generated on first use). */
  data(connection: string): ConnectionData;
  /** Ground truth for a feed-date window at simulated time `at` (default now); see expected.ts. */
  expectedInvoices(
    connection: string,
    window: { from: number; to: number; at?: number },
  ): ReturnType<typeof expectedInvoices>;
}

export type { ExpectedInvoice };

export async function startAmazonBusinessSimulator(ctx: SimulatorContext): Promise<AmazonBusinessSimulator> {
  let settings = parseBusinessSimSettings(ctx.options);
  const startedAt = ctx.clock.simNow();
  const cache = new Map<string, ConnectionData>();

  const regionOf = (connection: string): BusinessRegion => {
    const configured = ctx.connections.find((c) => c.id === connection)?.region;
    return settings.regions[connection] ?? CONFIG_REGION[configured ?? ''] ?? 'NA';
  };

  const dataOf = (connection: string): ConnectionData => {
    let data = cache.get(connection);
    if (!data) {
      const region = regionOf(connection);
      data = generateConnectionData({
        seed: ctx.seed,
        connection,
        region,
        orders: settings.orders === 0 ? 0 : Math.max(1, Math.round(settings.orders * ctx.size)),
        days: settings.days,
        end: settings.end ? Date.parse(settings.end) : Math.floor(startedAt / DAY_MS) * DAY_MS,
        consolidatedShare: settings.consolidatedShare,
        consolidationDelayDays: settings.consolidationDelayDays,
        creditMemoShare: settings.creditMemoShare,
        nullDetailsShare: settings.nullDetailsShare,
        nullDetailsDays: settings.nullDetailsDays,
        uninvoicedShare: settings.uninvoicedShare,
        associatedInvoiceNumbers: settings.associatedInvoiceRegions.includes(region),
        invoiceTotalOff: settings.invoiceTotalOff,
        lineWithoutInvoice: settings.lineWithoutInvoice,
      });
      cache.set(connection, data);
    }
    return data;
  };

  const expected = (connection: string, window: { from: number; to: number; at?: number }) =>
    expectedInvoices(
      dataOf(connection),
      { from: window.from, to: window.to, at: window.at ?? ctx.clock.simNow() },
      ctx.seed,
      settings.paymentErrorShare,
    );

  /** The customer (connection id) the access token was issued for. */
  const customer = (req: SimRequest): string => {
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
        'The grant has no Amazon Business customer in this sandbox.',
      );
    }
    return subject;
  };

  // Buckets are per customer; a request without a valid token gets its own, so it meets the 403, not a 429.
  const rateKey = (req: SimRequest) =>
    ctx.lwa.verify(req.header('x-amz-access-token'))?.subject ?? `anonymous:${req.requestId}`;

  const routes: RouteDef[] = [
    {
      method: 'GET',
      path: `${BASE}/transactions`,
      operation: 'getTransactions',
      rateLimit: BUSINESS_RATE,
      rateLimitKey: rateKey,
      handler: (req) => {
        const who = customer(req);
        const q = req.query;
        const owner = hash32('amazon-business', who);
        let window: PageToken;
        if (q.nextPageToken !== undefined) {
          const others = [...req.searchParams.keys()].filter((k) => k !== 'nextPageToken');
          if (others.length && settings.mixedPageToken === 'reject') {
            throw invalid(
              'The request contains invalid parameters.',
              `nextPageToken must be the only parameter; the request also has ${[...new Set(others)].join(', ')}.`,
            );
          }
          window = decodeToken(q.nextPageToken);
          if (window.c !== owner)
            throw invalid('The request contains invalid parameters.', 'Invalid nextPageToken.');
        } else {
          for (const name of ['feedStartDate', 'feedEndDate']) {
            if (!q[name]) throw invalid('Missing required request parameters.', `'${name}' is required.`);
          }
          const from = parseDateTime(q.feedStartDate!);
          const to = parseDateTime(q.feedEndDate!);
          if (from > to)
            throw invalid('The request contains invalid parameters.', 'feedStartDate is after feedEndDate.');
          window = { c: owner, f: from, t: to, o: 0 };
        }
        const data = dataOf(who);
        const now = ctx.clock.simNow();
        const list = data.transactions.filter(
          (t) => t.feedDate >= window.f && t.feedDate < window.t && t.feedDate <= now,
        );
        const page = list.slice(window.o, window.o + settings.pageSize);
        const next = window.o + page.length;
        return json(200, {
          transactions: page.map((t) => transactionPayload(data, t, now)),
          ...(next < list.length ? { nextPageToken: encodeToken({ ...window, o: next }) } : {}),
        });
      },
    },
    {
      method: 'POST',
      path: `${BASE}/invoices`,
      operation: 'getInvoiceDetailsByOrderLineItems',
      rateLimit: BUSINESS_RATE,
      rateLimitKey: rateKey,
      handler: (req) => {
        const who = customer(req);
        const items = listOf(req, 'orderLineItems').map((raw, i) => {
          const item = raw as Record<string, unknown> | null;
          const ids = ['orderId', 'orderLineItemId', 'shipmentId'] as const;
          const missing = ids.filter((k) => typeof item?.[k] !== 'string' || item[k] === '');
          if (missing.length) {
            throw invalid(
              'The request contains invalid parameters.',
              `orderLineItems[${i}] needs ${missing.join(', ')}.`,
            );
          }
          return {
            orderId: item![ids[0]] as string,
            orderLineItemId: item![ids[1]] as string,
            shipmentId: item![ids[2]] as string,
          };
        });
        const data = dataOf(who);
        const now = ctx.clock.simNow();
        const unique = [...new Map(items.map((l) => [lineKey(l), l])).values()];
        // The answer is not in request order (the model's example answers its two items the other way
        // round): sorted by order and line item, so a client must match on the ids.
        unique.sort(
          (a, b) => a.orderId.localeCompare(b.orderId) || a.orderLineItemId.localeCompare(b.orderLineItemId),
        );
        return json(200, {
          invoiceDetailsByOrderLineItems: unique.map((l) => ({
            orderLineItem: l,
            invoiceDetails: invoiceDetailsOf(data, data.byLineItem.get(lineKey(l)) ?? [], now),
          })),
        });
      },
    },
    {
      method: 'POST',
      path: `${BASE}/invoices/batch/paymentDetails`,
      operation: 'getBatchInvoicePaymentDetails',
      rateLimit: BUSINESS_RATE,
      rateLimitKey: rateKey,
      handler: (req) => {
        const who = customer(req);
        const ids = listOf(req, 'invoiceIds');
        ids.forEach((id, i) => {
          if (typeof id !== 'string' || id.length < 1 || id.length > 255) {
            throw invalid(
              'The request contains invalid parameters.',
              `invoiceIds[${i}] must be a string of 1 to 255 characters.`,
            );
          }
        });
        const data = dataOf(who);
        const now = ctx.clock.simNow();
        return json(200, {
          invoicePaymentDetailsResults: (ids as string[]).map((id) =>
            paymentResult(data, id, now, ctx.seed, settings.paymentErrorShare),
          ),
        });
      },
    },
  ];

  const server = await createSimServer({
    ...ctx.server,
    errorBody: amazonErrorList,
    rateLimitHeaders: { limit: true, retryAfter: false },
    routes,
    admin: [
      {
        method: 'GET',
        path: '/amazon-business/invoices',
        handler: (req) => {
          const q = req.query;
          if (!q.connection) return json(400, { error: 'connection is required' });
          try {
            const from = q.feedStartDate ? parseDateTime(q.feedStartDate) : 0;
            const to = q.feedEndDate ? parseDateTime(q.feedEndDate) : 8.64e15;
            const at = q.at ? parseDateTime(q.at) : undefined;
            const data = dataOf(q.connection);
            return json(200, {
              connection: q.connection,
              region: data.region,
              currency: data.currency,
              ...expected(q.connection, { from, to, ...(at !== undefined ? { at } : {}) }),
            });
          } catch (err) {
            return json(400, { error: (err as Error).message });
          }
        },
      },
      {
        method: 'GET',
        path: '/amazon-business/data',
        handler: (req) => {
          const connection = req.query.connection;
          if (!connection) return json(400, { error: 'connection is required' });
          const data = dataOf(connection);
          return json(200, {
            connection,
            region: data.region,
            marketplaceId: data.marketplaceId,
            currency: data.currency,
            end: new Date(data.end).toISOString(),
            transactions: data.transactions.length,
            invoices: data.invoices.length,
          });
        },
      },
      {
        method: 'POST',
        path: '/settings',
        handler: (req) => {
          try {
            settings = parseBusinessSimSettings(req.body, settings);
          } catch (err) {
            return json(400, { error: (err as Error).message });
          }
          cache.clear();
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
    region: regionOf,
    data: dataOf,
    expectedInvoices: expected,
  };
}

export const amazonBusinessSimulator: SimulatorFactory = {
  name: 'amazon-business',
  provider: 'amazon-business',
  start: startAmazonBusinessSimulator,
};
