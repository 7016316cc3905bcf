import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimClock } from '../../../../infra/sandbox/framework/clock.ts';
import { amazonAdsError } from '../../../../infra/sandbox/framework/errors.ts';
import { json } from '../../../../infra/sandbox/framework/http.ts';
import { rateLimitHeaderValue } from '../../../../infra/sandbox/framework/rate-limit.ts';
import {
  createSimServer,
  type SimServer,
  type SimServerOptions,
} from '../../../../infra/sandbox/framework/server.ts';

const servers: SimServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A server on a clock whose real time only moves when the test says so. */
async function start(timeScale: number, extra: Partial<SimServerOptions> = {}) {
  let real = 1_700_000_000_000;
  const clock = createSimClock({ timeScale, realNow: () => real });
  const sim = await createSimServer({
    name: 'rl',
    clock,
    routes: [
      {
        method: 'GET',
        path: '/documents/:id',
        operation: 'getInvoicesDocument',
        // SP-API getInvoicesDocument: 0.0167 requests/s, burst 1.
        rateLimit: { rate: 0.0167, burst: 1 },
        handler: () => json(200, { ok: true }),
      },
      {
        method: 'GET',
        path: '/invoices',
        operation: 'getInvoices',
        rateLimit: { rate: 0.1, burst: 2 },
        rateLimitKey: (req) => req.header('x-seller') ?? '',
        handler: () => json(200, { ok: true }),
      },
      { method: 'GET', path: '/free', operation: 'free', handler: () => json(200, {}) },
    ],
    ...extra,
  });
  servers.push(sim);
  return { sim, clock, tick: (realMs: number) => (real += realMs) };
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  return { status: res.statusCode, headers: res.headers, body: await res.body.json() };
}

describe('rate limits in simulated time', () => {
  it('answers 429 in the provider shape once the bucket is empty, with x-amzn-RateLimit-Limit scaled by timeScale', async () => {
    const { sim } = await start(60);
    const ok = await get(`${sim.url}/invoices`);
    expect(ok.status).toBe(200);
    // 0.1 simulated requests/s at 60x is 6 real requests/s: what a client must pace itself to.
    expect(ok.headers['x-amzn-ratelimit-limit']).toBe('6');
    expect((await get(`${sim.url}/invoices`)).status).toBe(200);

    const throttled = await get(`${sim.url}/invoices`);
    expect(throttled.status).toBe(429);
    expect(throttled.body).toEqual({
      errors: [{ code: 'QuotaExceeded', message: 'You exceeded your quota for the requested resource.' }],
    });
    expect(throttled.headers['x-amzn-ratelimit-limit']).toBe('6');
    expect(throttled.headers['x-amzn-requestid']).toMatch(/^[0-9a-f-]{36}$/);
    expect(throttled.headers['retry-after']).toBeUndefined();

    const free = await get(`${sim.url}/free`);
    expect(free.headers['x-amzn-ratelimit-limit']).toBeUndefined();
    expect(sim.stats().operations.getInvoices).toEqual({
      requests: 3,
      throttled: 1,
      statuses: { 200: 2, 429: 1 },
    });
  });

  it('formats the limit header without float noise', () => {
    expect(rateLimitHeaderValue({ rate: 0.0167, burst: 1 }, 60)).toBe('1.002');
    expect(rateLimitHeaderValue({ rate: 0.167, burst: 1 }, 1)).toBe('0.167');
    expect(rateLimitHeaderValue({ rate: 2, burst: 15 }, 60)).toBe('120');
  });

  it('refills in simulated time: what takes a simulated minute takes a real second at 60x', async () => {
    const { sim, tick } = await start(60);
    expect((await get(`${sim.url}/documents/d1`)).status).toBe(200);
    expect((await get(`${sim.url}/documents/d1`)).status).toBe(429);
    tick(900); // 54 simulated seconds: 0.9 of a token
    expect((await get(`${sim.url}/documents/d1`)).status).toBe(429);
    tick(200); // 66 simulated seconds in all
    expect((await get(`${sim.url}/documents/d1`)).status).toBe(200);
  });

  it('does not refill at time scale 1 in the same real time', async () => {
    const { sim, tick } = await start(1);
    expect((await get(`${sim.url}/documents/d1`)).status).toBe(200);
    tick(1100);
    const again = await get(`${sim.url}/documents/d1`);
    expect(again.status).toBe(429);
    expect(again.headers['x-amzn-ratelimit-limit']).toBe('0.0167');
  });

  it('sends Retry-After in real seconds, rounded up, under the Amazon Ads policy', async () => {
    const { sim, tick } = await start(60, {
      errorBody: amazonAdsError,
      rateLimitHeaders: { limit: false, retryAfter: true },
    });
    expect((await get(`${sim.url}/documents/d1`)).status).toBe(200);
    tick(250); // 15 of the ~60 simulated seconds a token takes have passed: ~45 s left = 0.75 real s
    const throttled = await get(`${sim.url}/documents/d1`);
    expect(throttled.status).toBe(429);
    expect(throttled.headers['retry-after']).toBe('1');
    expect(throttled.headers['x-amzn-ratelimit-limit']).toBeUndefined();
    expect(throttled.body).toEqual({
      code: 'THROTTLED',
      details: 'You exceeded your quota for the requested resource.',
    });
    const { sim: slow } = await start(1, { rateLimitHeaders: { retryAfter: true } });
    await get(`${slow.url}/documents/d1`);
    // A whole token at 0.0167/s is ~60 real seconds at time scale 1.
    expect((await get(`${slow.url}/documents/d1`)).headers['retry-after']).toBe('60');
  });

  it('keeps one bucket per rateLimitKey (e.g. per seller)', async () => {
    const { sim } = await start(60);
    for (let i = 0; i < 2; i++)
      expect((await get(`${sim.url}/invoices`, { 'x-seller': 'A' })).status).toBe(200);
    expect((await get(`${sim.url}/invoices`, { 'x-seller': 'A' })).status).toBe(429);
    expect((await get(`${sim.url}/invoices`, { 'x-seller': 'B' })).status).toBe(200);
  });

  it('refills when the clock is advanced through the admin endpoint, and can be reset', async () => {
    const { sim } = await start(60);
    await get(`${sim.url}/documents/d1`);
    expect((await get(`${sim.url}/documents/d1`)).status).toBe(429);
    const advanced = await request(`${sim.url}/__sandbox/clock`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ advanceSeconds: 61 }),
    });
    expect(advanced.statusCode).toBe(200);
    await advanced.body.dump();
    expect((await get(`${sim.url}/documents/d1`)).status).toBe(200);
    expect((await get(`${sim.url}/documents/d1`)).status).toBe(429);
    await (await request(`${sim.url}/__sandbox/rate-limits/reset`, { method: 'POST' })).body.dump();
    expect((await get(`${sim.url}/documents/d1`)).status).toBe(200);

    const bad = await request(`${sim.url}/__sandbox/clock`, {
      method: 'POST',
      body: '{"advanceSeconds":-1}',
    });
    expect(bad.statusCode).toBe(400);
    expect(await bad.body.json()).toEqual({
      error: 'advanceSeconds: expected a non-negative number of simulated seconds',
    });
  });

  it('refuses a route with an impossible rate limit, naming the operation', async () => {
    await expect(
      createSimServer({
        name: 'bad',
        routes: [
          {
            method: 'GET',
            path: '/x',
            operation: 'x',
            rateLimit: { rate: 0, burst: 1 },
            handler: () => json(200, {}),
          },
        ],
      }),
    ).rejects.toThrow('bad x: rateLimit.rate must be a positive number, got 0');
  });
});

describe('sim clock', () => {
  it('runs timeScale times faster than real time and converts durations', () => {
    let real = 0;
    const clock = createSimClock({ timeScale: 60, start: Date.UTC(2025, 0, 1), realNow: () => real });
    real = 2000;
    expect(clock.simDate().toISOString()).toBe('2025-01-01T00:02:00.000Z');
    expect(clock.toRealMs(120_000)).toBe(2000);
    expect(clock.toSimMs(500)).toBe(30_000);
    clock.advance(60_000);
    expect(clock.simDate().toISOString()).toBe('2025-01-01T00:03:00.000Z');
    expect(() => createSimClock({ timeScale: 0 })).toThrow('timeScale must be a positive number, got 0');
  });
});
