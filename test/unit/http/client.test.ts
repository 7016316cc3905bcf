import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cachedTokenSource, clearTokenCache } from '../../../shared/auth/token-cache.ts';
import { RateBudgets } from '../../../shared/aws/rate-budgets.ts';
import { budgetUntil } from '../../../shared/http/budget.ts';
import { HttpClient, type HttpClientOptions, type HttpEvent } from '../../../shared/http/client.ts';
import { DeferError, PayloadError, ProviderError } from '../../../shared/http/errors.ts';
import type { SharedRate } from '../../../shared/http/shared-rate.ts';
import { type BucketRegistry, resetBuckets } from '../../../shared/http/token-bucket.ts';
import {
  type Handler,
  resetConnection,
  sendJson,
  sendText,
  sequence,
  simulatedClock,
  startServer,
  type TestServer,
} from '../../helpers/http-server.ts';
import { type StateTable, startStateTable } from '../../helpers/state-table.ts';

let server: TestServer | undefined;
let n = 0;

afterEach(async () => {
  await server?.close();
  server = undefined;
  resetBuckets();
  clearTokenCache();
});

async function setup(handler: Handler, overrides: Partial<HttpClientOptions> = {}) {
  server = await startServer(handler);
  const clock = simulatedClock();
  const events: HttpEvent[] = [];
  const client = new HttpClient({
    provider: 'sp-api',
    connection: `conn-${++n}`,
    baseUrl: server.url,
    operations: { op: { rate: 100, burst: 100 } },
    budget: budgetUntil(clock.now() + 600_000, clock.now),
    downloadHosts: [],
    allowLoopback: true,
    retry: { baseMs: 100, capMs: 1_000, maxAttempts: 4 },
    random: () => 0.5,
    now: clock.now,
    sleep: clock.sleep,
    onEvent: (e) => events.push(e),
    ...overrides,
  });
  return { client, clock, events, server };
}

const ok: Handler = (_req, res) => sendJson(res, 200, { ok: true });

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('pacing', () => {
  it('paces n requests at rate r after the burst (simulated time)', async () => {
    const { client, clock, server } = await setup(ok, { operations: { op: { rate: 2, burst: 3 } } });
    const start = clock.now();
    for (let i = 0; i < 7; i++) await client.request('op', { path: '/x' });
    expect(server.requests).toHaveLength(7);
    expect(clock.slept).toEqual([500, 500, 500, 500]);
    expect(clock.now() - start).toBe(2_000);
  });

  it('corrects the rate from x-amzn-RateLimit-Limit', async () => {
    const { client, clock } = await setup(
      (_req, res) => sendJson(res, 200, {}, { 'x-amzn-RateLimit-Limit': '5.0' }),
      { operations: { op: { rate: 0.1, burst: 1 } } },
    );
    await client.request('op', { path: '/x' });
    // At the seeded 0.1/s the next call would wait 10 s (and defer); corrected to 5/s it waits 200 ms.
    await client.request('op', { path: '/x' });
    expect(clock.slept).toEqual([200]);
  });

  it('defers instead of sleeping when the bucket wait passes the threshold, without using the token', async () => {
    const { client, clock, events, server } = await setup(ok, {
      operations: { op: { rate: 0.1, burst: 1 } },
    });
    await client.request('op', { path: '/x' });
    const err = await rejection(client.request('op', { path: '/x' }));
    expect(err).toBeInstanceOf(DeferError);
    expect((err as DeferError).reason).toBe('throttled');
    expect((err as DeferError).retryAt.getTime()).toBe(clock.now() + 10_000);
    expect(clock.slept).toEqual([]);
    expect(server.requests).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: 'defer', operation: 'op', waitMs: 10_000 });
    clock.advance(10_000);
    await client.request('op', { path: '/x' });
    expect(clock.slept).toEqual([]);
  });

  it('hands back even a short wait of an operation slower than the threshold: never slept', async () => {
    const { client, clock, server } = await setup(ok, { operations: { op: { rate: 0.1, burst: 1 } } });
    await client.request('op', { path: '/x' });
    // The invocation's own work took most of the 10 s interval; the last second is not slept either.
    clock.advance(9_000);
    const err = await rejection(client.request('op', { path: '/x' }));
    expect(err).toBeInstanceOf(DeferError);
    expect((err as DeferError).retryAt.getTime()).toBe(clock.now() + 1_000);
    expect(clock.slept).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it('defers a short bucket wait that would pass the budget', async () => {
    const clock = simulatedClock();
    const { client, server } = await setup(ok, {
      operations: { op: { rate: 1, burst: 1 } },
      now: clock.now,
      sleep: clock.sleep,
      budget: budgetUntil(clock.now() + 800, clock.now),
    });
    await client.request('op', { path: '/x' });
    await expect(client.request('op', { path: '/x' })).rejects.toBeInstanceOf(DeferError);
    expect(clock.slept).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it('defers with reason budget when no time is left at all', async () => {
    const clock = simulatedClock();
    const { client, server } = await setup(ok, {
      now: clock.now,
      sleep: clock.sleep,
      budget: budgetUntil(clock.now() - 1, clock.now),
    });
    const err = await rejection(client.request('op', { path: '/x' }));
    expect((err as DeferError).reason).toBe('budget');
    expect(server.requests).toHaveLength(0);
  });

  it('refuses an operation it was not told about', async () => {
    const { client } = await setup(ok);
    await expect(client.request('nope', { path: '/x' })).rejects.toThrow(/"nope" is not declared/);
  });
});

describe('pacing shared by the containers of a connection', () => {
  let db: StateTable;
  beforeAll(async () => {
    db = await startStateTable('client-rate-test');
  });
  afterAll(async () => {
    await db?.close();
  });

  /**
   * `count` containers of one connection, each a client with its own buckets (as each Lambda container has),
   * all calling one server on one simulated clock. `shared` is their rate plan in the state table.
   */
  async function containers(
    count: number,
    op: HttpClientOptions['operations'][string],
    shared: (clock: ReturnType<typeof simulatedClock>) => SharedRate | undefined,
    handler: Handler = ok,
  ) {
    server = await startServer(handler);
    const clock = simulatedClock();
    const connection = `conn-${++n}`;
    const warnings: string[] = [];
    const clients = Array.from({ length: count }, () => {
      const buckets: BucketRegistry = new Map();
      const sharedRate = shared(clock);
      return new HttpClient({
        provider: 'sp-api',
        connection,
        baseUrl: server!.url,
        operations: { op },
        budget: budgetUntil(clock.now() + 600_000, clock.now),
        downloadHosts: [],
        containers: count,
        buckets,
        ...(sharedRate ? { sharedRate } : {}),
        now: clock.now,
        sleep: clock.sleep,
        log: {
          debug: () => {},
          info: () => {},
          warn: (message) => warnings.push(message),
          error: () => {},
        },
      });
    });
    return { clients, clock, server: server!, warnings };
  }

  const onTable = (clock: ReturnType<typeof simulatedClock>) => new RateBudgets(db.ddb, db.table, clock.now);

  it('two containers send one burst between them, then one request an interval', async () => {
    const { clients, clock } = await containers(2, { rate: 1, burst: 4, shared: true }, onTable);
    const [a, b] = clients as [HttpClient, HttpClient];
    for (const c of [a, b, a, b, a, b]) await c.request('op', { path: '/x' });
    // Each container on its own bucket would have sent all six at once (a full burst of 4 each).
    expect(clock.slept).toEqual([1000, 1000]);
  });

  it('a container that comes later finds the burst spent and the next slot too far: it defers', async () => {
    const { clients, clock, server } = await containers(2, { rate: 0.1, burst: 2, shared: true }, onTable);
    const [a, b] = clients as [HttpClient, HttpClient];
    await a.request('op', { path: '/x' });
    await a.request('op', { path: '/x' });
    const err = await rejection(b.request('op', { path: '/x' }));
    expect(err).toBeInstanceOf(DeferError);
    expect((err as DeferError).retryAt.getTime()).toBe(clock.now() + 10_000);
    expect(server.requests).toHaveLength(2);
    // Nothing was taken for the deferred call: once the interval has passed, it goes at once.
    clock.advance(10_000);
    await b.request('op', { path: '/x' });
    expect(clock.slept).toEqual([]);
  });

  it('a container not yet answered paces at the rate the provider told another, not at its default', async () => {
    const told: Handler = (_req, res) => sendJson(res, 200, {}, { 'x-amzn-RateLimit-Limit': '5.0' });
    const { clients, clock } = await containers(2, { rate: 0.5, burst: 1, shared: true }, onTable, told);
    const [a, b] = clients as [HttpClient, HttpClient];
    // a is told 5/s by its first answer, and writes it to the plan then.
    await a.request('op', { path: '/x' });
    // b's default (0.5/s) would convert the plan back and wait 2 s; it takes the told 5/s instead, and
    // keeps that pace on its own bucket.
    await b.request('op', { path: '/x' });
    await b.request('op', { path: '/x' });
    expect(clock.slept).toEqual([200, 200]);
  });

  it('a container told a slower rate than the default paces the others at it', async () => {
    const told: Handler = (_req, res) => sendJson(res, 200, {}, { 'x-amzn-RateLimit-Limit': '0.25' });
    const { clients, clock } = await containers(2, { rate: 1, burst: 1, shared: true }, onTable, told);
    const [a, b] = clients as [HttpClient, HttpClient];
    // a is told 0.25/s by its first answer: the one request booked ahead is now 4 s of the plan, not 1 s.
    await a.request('op', { path: '/x' });
    // b's default is 1/s, but it waits the told 4 s, and a 4 s more.
    await b.request('op', { path: '/x' });
    await a.request('op', { path: '/x' });
    expect(clock.slept).toEqual([4000, 4000]);
  });

  it('a told rate the plan cannot take is no failure: the answer is used, and the container says so', async () => {
    const told: Handler = (_req, res) =>
      sendJson(res, 200, { ok: true }, { 'x-amzn-RateLimit-Limit': '5.0' });
    const { clients, warnings } = await containers(
      1,
      { rate: 0.5, burst: 1, shared: true },
      (c) => {
        const table = onTable(c);
        return {
          reserve: (...args) => table.reserve(...args),
          tell: () => Promise.reject(new Error('timed out')),
        };
      },
      told,
    );
    const [a] = clients as [HttpClient];
    expect((await a.request('op', { path: '/x' })).data).toEqual({ ok: true });
    expect(warnings).toEqual(['shared rate plan out of reach, the told rate not written to it']);
  });

  it('operations not marked shared pace on each container, with its share of the burst', async () => {
    const { clients, clock } = await containers(2, { rate: 1, burst: 4 }, onTable);
    const [a, b] = clients as [HttpClient, HttpClient];
    for (const c of [a, a, a, b, b, b]) await c.request('op', { path: '/x' });
    expect(clock.slept).toEqual([1000, 1000]);
  });

  it('without the shared plan (out of reach), a container paces alone on its own bucket, and says so', async () => {
    const unreachable: SharedRate = {
      reserve: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8000')),
    };
    const { clients, clock, server, warnings } = await containers(
      2,
      { rate: 1, burst: 4, shared: true },
      () => unreachable,
    );
    const [a] = clients as [HttpClient];
    for (let i = 0; i < 5; i++) await a.request('op', { path: '/x' });
    expect(server.requests).toHaveLength(5);
    expect(clock.slept).toEqual([1000]);
    expect(warnings).toContain('shared rate plan out of reach, pacing on this container alone');
  });

  it('back from a spell without the plan, a container does not take a burst it already spent', async () => {
    let down = true;
    const { clients, clock, server } = await containers(1, { rate: 1, burst: 4, shared: true }, (c) => {
      const table = onTable(c);
      return {
        reserve: (...args) => (down ? Promise.reject(new Error('timed out')) : table.reserve(...args)),
      };
    });
    const [a] = clients as [HttpClient];
    for (let i = 0; i < 4; i++) await a.request('op', { path: '/x' });
    // The table is back; it never saw those four and offers a full burst. The provider has refilled none.
    down = false;
    await a.request('op', { path: '/x' });
    expect(server.requests).toHaveLength(5);
    expect(clock.slept).toEqual([1000]);
  });
});

describe('retries', () => {
  it('retries 429 with Retry-After as the floor of the wait', async () => {
    const { client, clock, events, server } = await setup(
      sequence(
        (_req, res) => sendJson(res, 429, { errors: [{ code: 'QuotaExceeded' }] }, { 'retry-after': '2' }),
        ok,
      ),
    );
    const res = await client.request('op', { path: '/x' });
    expect(res.data).toEqual({ ok: true });
    expect(server.requests).toHaveLength(2);
    // Jitter alone would be 0.5 * 100 = 50 ms; Retry-After says 2 s.
    expect(clock.slept).toEqual([2_000]);
    expect(events.map((e) => e.type)).toEqual(['throttle', 'retry']);
  });

  it('defers a Retry-After longer than the threshold, with retryAt = now + wait and no sleep', async () => {
    const { client, clock, server } = await setup((_req, res) =>
      sendJson(res, 429, {}, { 'retry-after': '30' }),
    );
    const err = await rejection(client.request('op', { path: '/x' }));
    expect(err).toBeInstanceOf(DeferError);
    expect((err as DeferError).reason).toBe('throttled');
    expect((err as DeferError).retryAt.getTime()).toBe(clock.now() + 30_000);
    expect(clock.slept).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it('defers a retry wait that would pass the budget', async () => {
    const clock = simulatedClock();
    const { client, server } = await setup(
      (_req, res) => sendText(res, 503, 'busy', { 'retry-after': '2' }),
      {
        now: clock.now,
        sleep: clock.sleep,
        budget: budgetUntil(clock.now() + 1_500, clock.now),
      },
    );
    const err = await rejection(client.request('op', { path: '/x' }));
    expect((err as DeferError).reason).toBe('unavailable');
    expect(clock.slept).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it('retries 5xx and a reset connection, with growing jittered waits', async () => {
    const { client, clock, server } = await setup(
      sequence(
        (_req, res) => sendText(res, 500, 'oops'),
        resetConnection,
        (_req, res) => sendText(res, 502, ''),
        ok,
      ),
    );
    const res = await client.request('op', { path: '/x' });
    expect(res.status).toBe(200);
    expect(server.requests).toHaveLength(4);
    expect(clock.slept).toEqual([50, 100, 200]);
  });

  it('gives up after maxAttempts with a ProviderError carrying the last status', async () => {
    const { client, server } = await setup((_req, res) =>
      sendJson(res, 503, { errors: [{ code: 'ServiceUnavailable', message: 'try later' }] }),
    );
    const err = (await rejection(client.request('op', { path: '/x' }))) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.status).toBe(503);
    expect(err.code).toBe('ServiceUnavailable');
    expect(err.attempts).toBe(4);
    expect(server.requests).toHaveLength(4);
  });

  it('does not retry a refused connection (nothing listens there)', async () => {
    const { client, server } = await setup(ok);
    await server.close();
    const err = (await rejection(client.request('op', { path: '/x' }))) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.status).toBe(0);
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.attempts).toBe(1);
  });
});

describe('4xx fail fast with the provider error', () => {
  const cases: Array<[string, number, unknown, string, string]> = [
    [
      'SP-API / Business errors[]',
      400,
      { errors: [{ code: 'InvalidInput', message: 'marketplaceId is invalid', details: 'A2Q3' }] },
      'InvalidInput',
      'marketplaceId is invalid',
    ],
    [
      'Amazon Ads {code, details}',
      400,
      { code: 'INVALID_ARGUMENT', details: 'startDate is after endDate' },
      'INVALID_ARGUMENT',
      'startDate is after endDate',
    ],
    [
      'Amazon Ads {code, message}',
      404,
      { code: 'NOT_FOUND', message: 'no such invoice' },
      'NOT_FOUND',
      'no such invoice',
    ],
    [
      'Google {error}',
      403,
      { error: { code: 403, message: 'invoice level is consolidated', status: 'PERMISSION_DENIED' } },
      'PERMISSION_DENIED',
      'invoice level is consolidated',
    ],
  ];
  it.each(cases)('%s', async (_name, status, body, code, message) => {
    const { client, server, clock } = await setup((_req, res) => sendJson(res, status, body));
    const err = (await rejection(client.request('op', { path: '/x' }))) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({
      status,
      code,
      providerMessage: message,
      retryable: false,
      attempts: 1,
      operation: 'op',
    });
    expect(err.message).toContain(code);
    expect(err.message).toContain(message);
    expect(server.requests).toHaveLength(1);
    expect(clock.slept).toEqual([]);
  });

  it('falls back to the status text for a body it cannot read', async () => {
    const { client } = await setup((_req, res) => sendText(res, 404, '<html>gone</html>'));
    const err = (await rejection(client.request('op', { path: '/x' }))) as ProviderError;
    expect(err).toMatchObject({ status: 404, code: 'Not Found', providerMessage: 'Not Found' });
  });
});

describe('access tokens', () => {
  function countingTokens(connection: string) {
    let issued = 0;
    const invalidated: string[] = [];
    const source = cachedTokenSource(connection, async () => ({
      accessToken: `tok-${++issued}`,
      expiresIn: 3600,
    }));
    return {
      tokens: {
        get: () => source.get(),
        invalidate: (t: string) => {
          invalidated.push(t);
          source.invalidate(t);
        },
      },
      issued: () => issued,
      invalidated,
    };
  }

  it('on 401 refreshes the token once and retries once', async () => {
    const t = countingTokens('k401');
    const { client, server } = await setup(
      (req, res) =>
        req.headers.authorization === 'Bearer tok-1'
          ? sendJson(res, 401, {})
          : ok(req, res, undefined as never),
      { auth: { style: 'bearer', tokens: t.tokens } },
    );
    const res = await client.request('op', { path: '/x' });
    expect(res.status).toBe(200);
    expect(server.requests.map((r) => r.headers.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-2']);
    expect(t.issued()).toBe(2);
    expect(t.invalidated).toEqual(['tok-1']);
  });

  it('a second 401 after the refresh fails without another refresh', async () => {
    const t = countingTokens('k401b');
    const { client, server } = await setup(
      (_req, res) => sendJson(res, 401, { code: 'UNAUTHORIZED', details: 'Not authorized' }),
      {
        auth: { style: 'bearer', tokens: t.tokens },
      },
    );
    const err = (await rejection(client.request('op', { path: '/x' }))) as ProviderError;
    expect(err.status).toBe(401);
    expect(server.requests).toHaveLength(2);
    expect(t.issued()).toBe(2);
  });

  it('treats an SP-API 403 "access token expired" as expired and sends x-amz-access-token', async () => {
    const t = countingTokens('k403');
    const expired = {
      errors: [
        {
          code: 'Unauthorized',
          message: 'Access to requested resource is denied.',
          details: 'The access token you provided has expired.',
        },
      ],
    };
    const { client, server } = await setup(
      (req, res) =>
        req.headers['x-amz-access-token'] === 'tok-1' ? sendJson(res, 403, expired) : sendJson(res, 200, {}),
      { auth: { style: 'x-amz-access-token', tokens: t.tokens } },
    );
    await client.request('op', { path: '/x' });
    expect(server.requests.map((r) => r.headers['x-amz-access-token'])).toEqual(['tok-1', 'tok-2']);
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('a 403 that is not about the token fails at once', async () => {
    const t = countingTokens('k403b');
    const { client, server } = await setup(
      (_req, res) => sendJson(res, 403, { code: 'FORBIDDEN', details: 'missing nemo_transaction_view' }),
      { auth: { style: 'bearer', tokens: t.tokens } },
    );
    const err = (await rejection(client.request('op', { path: '/x' }))) as ProviderError;
    expect(err.code).toBe('FORBIDDEN');
    expect(server.requests).toHaveLength(1);
    expect(t.issued()).toBe(1);
  });
});

describe('JSON in and out', () => {
  const invoices = z.object({
    invoices: z.array(z.object({ id: z.string() })),
    nextToken: z.string().optional(),
  });

  it('validates with the schema and returns the parsed data, status, headers and raw body', async () => {
    const body = { invoices: [{ id: 'A' }], nextToken: 't2' };
    const { client } = await setup((_req, res) => sendJson(res, 200, body, { 'x-amzn-requestid': 'r-1' }));
    const res = await client.request('op', { path: '/invoices', schema: invoices });
    expect(res.data.invoices[0]!.id).toBe('A');
    expect(res.rawBody).toBe(JSON.stringify(body));
    expect(res.headers['x-amzn-requestid']).toBe('r-1');
  });

  it('a misfit raises PayloadError keeping the raw body and naming the path', async () => {
    const raw = '{"invoices":[{"id":42}]}';
    const { client } = await setup((_req, res) =>
      sendText(res, 200, raw, { 'content-type': 'application/json' }),
    );
    const err = (await rejection(client.request('op', { path: '/x', schema: invoices }))) as PayloadError;
    expect(err).toBeInstanceOf(PayloadError);
    expect(err.rawBody).toBe(raw);
    expect(err.issues).toContain('invoices.0.id');
  });

  it('a body that is not JSON raises PayloadError too', async () => {
    const { client } = await setup((_req, res) =>
      sendText(res, 200, '<html>proxy</html>', { 'content-type': 'text/html' }),
    );
    const err = (await rejection(client.request('op', { path: '/x' }))) as PayloadError;
    expect(err.rawBody).toBe('<html>proxy</html>');
    expect(err.issues).toContain('text/html');
  });

  it('accepts vendor JSON media types both ways', async () => {
    const { client, server } = await setup((_req, res) =>
      sendText(res, 202, '{"billingStatementId":"S1"}', {
        'content-type': 'application/vnd.billingstatement.v1+json',
      }),
    );
    const res = await client.request('op', {
      method: 'POST',
      path: '/billingStatements',
      json: { startDate: '2025-01-01' },
      contentType: 'application/vnd.createbillingstatementsrequest.v1+json',
      headers: { Accept: 'application/vnd.billingstatement.v1+json' },
      schema: z.object({ billingStatementId: z.string() }),
    });
    expect(res.data.billingStatementId).toBe('S1');
    const seen = server.requests[0]!;
    expect(seen.method).toBe('POST');
    expect(seen.headers['content-type']).toBe('application/vnd.createbillingstatementsrequest.v1+json');
    expect(seen.headers.accept).toBe('application/vnd.billingstatement.v1+json');
    expect(JSON.parse(seen.body)).toEqual({ startDate: '2025-01-01' });
  });

  it('sends default headers, and array query parameters comma-joined or repeated per operation', async () => {
    const { client, server } = await setup(ok, {
      operations: { list: { rate: 10, burst: 10 }, multi: { rate: 10, burst: 10, queryArrays: 'repeat' } },
      defaultHeaders: { 'Amazon-Advertising-API-ClientId': 'client-1' },
    });
    await client.request('list', {
      path: '/invoices',
      query: { invoiceStatuses: ['ISSUED', 'PAID_IN_FULL'], count: 100, cursor: undefined, q: 'a b&c' },
    });
    await client.request('multi', { path: '/invoices', query: { statuses: ['A', 'B'] } });
    expect(server.requests[0]!.url).toBe(
      '/invoices?invoiceStatuses=ISSUED,PAID_IN_FULL&count=100&q=a%20b%26c',
    );
    expect(server.requests[1]!.url).toBe('/invoices?statuses=A&statuses=B');
    expect(server.requests[0]!.headers['amazon-advertising-api-clientid']).toBe('client-1');
  });
});

describe('events', () => {
  beforeEach(() => resetBuckets());
  it('reports throttles, retries and defers for the run counters', async () => {
    const { client, events } = await setup(
      sequence(
        (_req, res) => sendJson(res, 429, {}),
        (_req, res) => sendJson(res, 500, {}),
        (_req, res) => sendJson(res, 429, {}, { 'retry-after': '60' }),
      ),
    );
    await expect(client.request('op', { path: '/x' })).rejects.toBeInstanceOf(DeferError);
    expect(events).toEqual([
      { type: 'throttle', operation: 'op', status: 429 },
      { type: 'retry', operation: 'op', status: 429, waitMs: 50 },
      { type: 'retry', operation: 'op', status: 500, waitMs: 100 },
      { type: 'throttle', operation: 'op', status: 429 },
      { type: 'defer', operation: 'op', status: 429, waitMs: 60_000, reason: 'throttled' },
    ]);
  });
});

describe('calls that create something at the provider (idempotent: false)', () => {
  const create = { create: { rate: 100, burst: 100, idempotent: false } };

  it('are not resent after a 5xx or a broken connection: the error says the outcome is unknown', async () => {
    for (const answer of [
      ((_req, res) =>
        sendJson(res, 503, { errors: [{ code: 'ServiceUnavailable', message: 'busy' }] })) as Handler,
      resetConnection,
    ]) {
      const { client, server } = await setup(answer, { operations: create });
      const err = (await rejection(
        client.request('create', { method: 'POST', path: '/exports', json: {} }),
      )) as ProviderError;
      expect(err).toBeInstanceOf(ProviderError);
      expect(err.ambiguous).toBe(true);
      expect(server.requests).toHaveLength(1);
      await server.close();
    }
  });

  it('are resent after a 429 (the provider says it did nothing), and are paced like any other call', async () => {
    const { client, server } = await setup(
      sequence(
        (_req, res) => sendJson(res, 429, {}),
        (_req, res) => sendJson(res, 202, { exportId: 'E1' }),
      ),
      { operations: create },
    );
    const res = await client.request('create', { method: 'POST', path: '/exports', json: {} });
    expect(res.data).toEqual({ exportId: 'E1' });
    expect(server.requests).toHaveLength(2);
    expect(client.rate('create')).toBe(100);
  });
});

describe('answers a spec classifies as throttles', () => {
  it('are paced and retried like a 429, and end as a throttled error the engine hands back', async () => {
    const quota = (_req: unknown, res: Parameters<Handler>[1]) =>
      sendJson(res, 403, { error: { code: 403, errors: [{ reason: 'rateLimitExceeded' }] } });
    const { client, server, events } = await setup(quota as Handler, {
      isThrottleError: (status, body) => status === 403 && body.includes('rateLimitExceeded'),
    });
    const err = (await rejection(client.request('op', { path: '/x' }))) as ProviderError;
    expect(err).toMatchObject({ name: 'ProviderError', status: 403, throttled: true });
    expect(server.requests).toHaveLength(4);
    expect(events.filter((e) => e.type === 'throttle')).toHaveLength(4);
  });
});
