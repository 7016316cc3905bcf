import { createServer as createNetServer } from 'node:net';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { amazonAdsError } from '../../../../infra/sandbox/framework/errors.ts';
import { fail, json, SimHttpError, stream } from '../../../../infra/sandbox/framework/http.ts';
import { createSimServer, type SimServer } from '../../../../infra/sandbox/framework/server.ts';
import { generatedStream } from '../../../../infra/sandbox/framework/signed-url.ts';

const servers: SimServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(extra: Partial<Parameters<typeof createSimServer>[0]> = {}) {
  const logged: string[] = [];
  const sim = await createSimServer({
    name: 'test',
    log: (l) => logged.push(l),
    routes: [
      {
        method: 'GET',
        path: '/profiles/:profileId/invoices/:invoiceId',
        operation: 'getInvoice',
        handler: (req) =>
          json(200, { params: req.params, query: req.query, all: req.searchParams.getAll('s') }),
      },
      {
        method: 'POST',
        path: '/billingStatements',
        operation: 'createStatement',
        handler: (req) =>
          json(202, { got: req.body, type: req.contentType }, { contentType: 'application/vnd.x.v1+json' }),
      },
      {
        method: 'POST',
        path: '/form',
        operation: 'form',
        handler: (req) => json(200, { got: req.body }),
      },
      { method: 'GET', path: '/denied', operation: 'denied', handler: () => fail(403, 'Unauthorized', 'no') },
      {
        method: 'GET',
        path: '/thrown',
        operation: 'thrown',
        handler: () => {
          throw new SimHttpError(
            400,
            'InvalidInput',
            'bad marketplaceId',
            'marketplaceId must be A2Q3Y263D00KWC',
          );
        },
      },
      {
        method: 'GET',
        path: '/crash',
        operation: 'crash',
        handler: () => {
          throw new TypeError('boom in handler');
        },
      },
      {
        method: 'GET',
        path: '/stream',
        operation: 'stream',
        handler: () => stream(200, generatedStream(1000, 's'), { contentLength: 1000 }),
      },
    ],
    ...extra,
  });
  servers.push(sim);
  return { sim, logged };
}

describe('sim server routing and bodies', () => {
  it('binds :params (decoded), the query (first value and all values)', async () => {
    const { sim } = await start();
    const res = await request(`${sim.url}/profiles/p%2F1/invoices/INV-9?a=1&s=x&s=y&a=2`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({
      params: { profileId: 'p/1', invoiceId: 'INV-9' },
      query: { a: '1', s: 'x' },
      all: ['x', 'y'],
    });
  });

  it('parses JSON bodies sent with a vendor +json media type and answers with its own media type', async () => {
    const { sim } = await start();
    const res = await request(`${sim.url}/billingStatements`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.createbillingstatementsrequest.v1+json' },
      body: JSON.stringify({ startDate: '2025-01-01' }),
    });
    expect(res.statusCode).toBe(202);
    expect(res.headers['content-type']).toBe('application/vnd.x.v1+json');
    expect(await res.body.json()).toEqual({
      got: { startDate: '2025-01-01' },
      type: 'application/vnd.createbillingstatementsrequest.v1+json',
    });
  });

  it('parses form-urlencoded bodies', async () => {
    const { sim } = await start();
    const res = await request(`${sim.url}/form`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' },
      body: 'grant_type=refresh_token&refresh_token=Atzr%7Cabc',
    });
    expect(await res.body.json()).toEqual({
      got: { grant_type: 'refresh_token', refresh_token: 'Atzr|abc' },
    });
  });

  it('answers unknown routes, bad JSON and wrong methods in the provider error shape with a request id', async () => {
    const { sim } = await start({ errorBody: amazonAdsError });
    const missing = await request(`${sim.url}/nope`);
    expect(missing.statusCode).toBe(404);
    expect(await missing.body.json()).toEqual({ code: 'NotFound', details: 'No route for GET /nope' });
    expect(missing.headers['x-amzn-requestid']).toMatch(/^[0-9a-f-]{36}$/);

    const badJson = await request(`${sim.url}/billingStatements`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"startDate":',
    });
    expect(badJson.statusCode).toBe(400);
    expect(await badJson.body.json()).toEqual({
      code: 'InvalidInput',
      details: 'The request body is not valid JSON.',
    });

    const wrongMethod = await request(`${sim.url}/billingStatements`);
    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers.allow).toBe('POST');
    await wrongMethod.body.dump();
  });

  it('renders returned and thrown provider errors with the default SP-API shape', async () => {
    const { sim } = await start();
    const denied = await request(`${sim.url}/denied`);
    expect(denied.statusCode).toBe(403);
    expect(await denied.body.json()).toEqual({ errors: [{ code: 'Unauthorized', message: 'no' }] });
    const thrown = await request(`${sim.url}/thrown`);
    expect(thrown.statusCode).toBe(400);
    expect(await thrown.body.json()).toEqual({
      errors: [
        {
          code: 'InvalidInput',
          message: 'bad marketplaceId',
          details: 'marketplaceId must be A2Q3Y263D00KWC',
        },
      ],
    });
  });

  it('turns a handler crash into a 500 in the provider shape and logs it without failing the server', async () => {
    const { sim, logged } = await start();
    const res = await request(`${sim.url}/crash`);
    expect(res.statusCode).toBe(500);
    expect(await res.body.json()).toEqual({
      errors: [{ code: 'InternalFailure', message: 'We encountered an internal error. Please try again.' }],
    });
    expect(logged).toEqual(['[sandbox test] crash handler failed: boom in handler']);
    const after = await request(`${sim.url}/denied`);
    expect(after.statusCode).toBe(403);
    await after.body.dump();
  });

  it('serves HEAD from the GET route with the length and no body', async () => {
    const { sim } = await start();
    const res = await request(`${sim.url}/stream`, { method: 'HEAD' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe('1000');
    expect((await res.body.arrayBuffer()).byteLength).toBe(0);
  });

  it('refuses routes under the paths the framework reserves', async () => {
    await expect(
      createSimServer({
        name: 'bad',
        routes: [{ method: 'GET', path: '/__sandbox/x', operation: 'x', handler: () => json(200, {}) }],
      }),
    ).rejects.toThrow(/reserves/);
  });

  it('counts requests and statuses per operation in /__sandbox/stats', async () => {
    const { sim } = await start();
    for (const p of ['/denied', '/denied', '/nope']) await (await request(`${sim.url}${p}`)).body.dump();
    const stats = (await (await request(`${sim.url}/__sandbox/stats`)).body.json()) as ReturnType<
      SimServer['stats']
    >;
    expect(stats.operations.denied).toEqual({ requests: 2, throttled: 0, statuses: { 403: 2 } });
    expect(stats.operations.unknown).toEqual({ requests: 1, throttled: 0, statuses: { 404: 1 } });
    expect(stats.requests).toBe(3);
    expect(sim.stats()).toEqual(stats);
  });
});

describe('sim server close', () => {
  it('closes with keep-alive sockets and a request still waiting, and frees the port', async () => {
    const listeners = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
    const before = listeners();
    const { sim } = await start({ faults: { latencyMs: 60_000 } });
    expect(listeners()).toBe(before + 1);
    const agent = new Agent({ keepAliveTimeout: 60_000 });
    const first = await request(`${sim.url}/__sandbox/stats`, { dispatcher: agent });
    await first.body.dump(); // the agent keeps this socket open
    const hanging = request(`${sim.url}/denied`, { dispatcher: agent }).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 50));

    await sim.close();
    expect(sim.server.listening).toBe(false);
    expect(listeners()).toBe(before);
    expect(await hanging).toBeInstanceOf(Error);
    await sim.close(); // idempotent

    const probe = createNetServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(sim.port, '127.0.0.1', resolve);
    });
    await new Promise((r) => probe.close(r));
    await agent.close();
  });
});
