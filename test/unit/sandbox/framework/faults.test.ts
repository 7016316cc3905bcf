import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FaultConfigError,
  FaultInjector,
  parseFaultConfig,
} from '../../../../infra/sandbox/framework/faults.ts';
import { json, stream } from '../../../../infra/sandbox/framework/http.ts';
import {
  createSimServer,
  type SimServer,
  type SimServerOptions,
} from '../../../../infra/sandbox/framework/server.ts';
import { generatedStream } from '../../../../infra/sandbox/framework/signed-url.ts';
import type { SimStats } from '../../../../infra/sandbox/framework/stats.ts';

const servers: SimServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(extra: Partial<SimServerOptions> = {}) {
  const sim = await createSimServer({
    name: 'faulty',
    seed: 42,
    log: () => {},
    routes: [
      {
        method: 'GET',
        path: '/invoices',
        operation: 'getInvoices',
        handler: (req) => json(200, { page: req.query.page ?? '0', filler: 'x'.repeat(2000) }),
      },
      {
        method: 'GET',
        path: '/profiles',
        operation: 'getProfiles',
        handler: () => json(200, [{ profileId: 1 }]),
      },
      {
        method: 'GET',
        path: '/big',
        operation: 'getBig',
        handler: () => stream(200, generatedStream(1_000_000, 'big'), { contentLength: 1_000_000 }),
      },
    ],
    ...extra,
  });
  servers.push(sim);
  return sim;
}

/** What a client observes: a status, or the error it got instead. */
async function outcome(url: string): Promise<string> {
  try {
    const res = await request(url);
    await res.body.text();
    return String(res.statusCode);
  } catch {
    return 'error';
  }
}

const paths = (n: number, path = '/invoices') => Array.from({ length: n }, (_, i) => `${path}?page=${i % 7}`);

async function run(sim: SimServer, list: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of list) out.push(await outcome(`${sim.url}${p}`));
  return out;
}

const mixed = { serverErrorRate: 0.3, resetRate: 0.1, truncateRate: 0.2 };

describe('fault injection', () => {
  it('gives the same faults to the same requests for a seed, and different ones for another seed', async () => {
    const a = await run(await start({ faults: mixed }), paths(40));
    const b = await run(await start({ faults: mixed }), paths(40));
    const c = await run(await start({ faults: { ...mixed, seed: 7 } }), paths(40));
    expect(a).toEqual(b);
    expect(new Set(a)).toEqual(new Set(['200', '500', '503', 'error']));
    expect(c).not.toEqual(a);
  });

  it('does not let requests of another operation shift the faults of an operation', async () => {
    const alone = await run(await start({ faults: mixed }), paths(30));
    const sim = await start({ faults: mixed });
    const interleaved: string[] = [];
    for (const p of paths(30)) {
      interleaved.push(await outcome(`${sim.url}${p}`));
      await outcome(`${sim.url}/profiles`);
    }
    expect(interleaved).toEqual(alone);
  });

  it('rolls again for a retried request: a 5xx is not permanent', async () => {
    const sim = await start({ faults: { serverErrorRate: 0.5 } });
    const retries = await run(sim, Array(30).fill('/invoices?page=1'));
    expect(retries).toContain('200');
    expect(retries.some((s) => s === '500' || s === '503')).toBe(true);
  });

  it('answers injected 5xx in the provider error shape and counts them', async () => {
    const sim = await start({ faults: { serverErrorRate: 1 } });
    const res = await request(`${sim.url}/invoices`);
    expect([500, 503]).toContain(res.statusCode);
    const body = (await res.body.json()) as { errors: Array<{ code: string }> };
    expect(['InternalFailure', 'ServiceUnavailable']).toContain(body.errors[0]!.code);
    expect(sim.stats().faults.total.serverError).toBe(1);
  });

  it('throttles every Nth request of an operation for M requests, with Retry-After where the provider sends it', async () => {
    const sim = await start({
      faults: { throttleBurst: { every: 5, length: 2, retryAfterSeconds: 3 } },
      rateLimitHeaders: { retryAfter: true },
    });
    const statuses: number[] = [];
    const retryAfter: Array<string | undefined> = [];
    for (let i = 0; i < 12; i++) {
      const res = await request(`${sim.url}/invoices`);
      await res.body.dump();
      statuses.push(res.statusCode);
      retryAfter.push(res.headers['retry-after'] as string | undefined);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429, 200, 200, 200, 429, 429, 200]);
    expect(retryAfter[4]).toBe('3');
    expect(sim.stats().operations.getInvoices!.throttled).toBe(4);
    expect(sim.stats().faults.byOperation.getInvoices).toEqual({ throttleBurst: 4 });
  });

  it('resets the connection: the client gets a socket error, not an answer', async () => {
    const sim = await start({ faults: { resetRate: 1 } });
    const err = (await request(`${sim.url}/profiles`).catch((e: Error) => e)) as Error & { code?: string };
    expect(err).toBeInstanceOf(Error);
    expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(err.code);
    expect(sim.stats().operations.getProfiles!.statuses).toEqual({ reset: 1 });
  });

  it('truncates a JSON body: the full Content-Length is announced and the client fails reading it', async () => {
    const sim = await start({ faults: { truncateRate: 1, operations: ['getInvoices'] } });
    const res = await request(`${sim.url}/invoices`);
    expect(res.statusCode).toBe(200);
    const announced = Number(res.headers['content-length']);
    expect(announced).toBeGreaterThan(2000);
    await expect(res.body.text()).rejects.toMatchObject({ code: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' });
    // Faults are scoped to getInvoices: other operations answer whole.
    const profiles = await request(`${sim.url}/profiles`);
    expect(await profiles.body.json()).toEqual([{ profileId: 1 }]);
    expect(sim.stats().faults.total.truncate).toBe(1);
  });

  it('truncates a streamed body part way: the client sees fewer bytes than announced, then an error', async () => {
    const sim = await start({ faults: { truncateRate: 1 } });
    const res = await request(`${sim.url}/big`);
    expect(res.headers['content-length']).toBe('1000000');
    let received = 0;
    const err = await (async () => {
      for await (const chunk of res.body) received += (chunk as Buffer).length;
    })().catch((e: Error) => e);
    expect(err).toMatchObject({ code: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' });
    expect(received).toBeLessThan(1_000_000);
  });

  it('is set and read at run time through the admin endpoints, and names the bad field', async () => {
    const sim = await start();
    expect(await outcome(`${sim.url}/profiles`)).toBe('200');
    const set = await request(`${sim.url}/__sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ serverErrorRate: 1, operations: ['getProfiles'] }),
    });
    expect(set.statusCode).toBe(200);
    expect(((await set.body.json()) as { faults: { serverErrorRate: number } }).faults.serverErrorRate).toBe(
      1,
    );
    expect(['500', '503']).toContain(await outcome(`${sim.url}/profiles`));
    expect(await outcome(`${sim.url}/invoices`)).toBe('200');

    const bad = await request(`${sim.url}/__sandbox/faults`, {
      method: 'POST',
      body: JSON.stringify({ truncateRate: 2, throttleBurst: { every: 3, length: 3 } }),
    });
    expect(bad.statusCode).toBe(400);
    const { error } = (await bad.body.json()) as { error: string };
    expect(error).toContain('faults.truncateRate');
    expect(error).toContain('faults.throttleBurst.length: length must be smaller than every');

    const stats = (await (await request(`${sim.url}/__sandbox/stats`)).body.json()) as SimStats;
    expect(stats.operations.getProfiles).toMatchObject({ requests: 2 });
    expect(stats.faults.byOperation.getProfiles).toEqual({ serverError: 1 });
    const current = await (await request(`${sim.url}/__sandbox/faults`)).body.json();
    expect(current).toMatchObject({ faults: { serverErrorRate: 1, operations: ['getProfiles'] } });
  });

  it('restarts its counters when set, so the same requests after a set get the same faults', async () => {
    const sim = await start();
    const setFaults = async () =>
      (
        await request(`${sim.url}/__sandbox/faults`, { method: 'POST', body: JSON.stringify(mixed) })
      ).body.dump();
    await setFaults();
    const first = await run(sim, paths(20));
    await setFaults();
    expect(await run(sim, paths(20))).toEqual(first);
  });

  it('counts added latency as a fault', async () => {
    const sim = await start({ faults: { latencyMs: { min: 1, max: 5 } } });
    expect(await outcome(`${sim.url}/profiles`)).toBe('200');
    expect(sim.stats().faults.total.latency).toBe(1);
  });
});

describe('export failures', () => {
  it('fails a fixed share of exports, the same ids for the same seed, and keeps an export fate once asked', () => {
    const ids = Array.from({ length: 200 }, (_, i) => `export-${i}`);
    const a = new FaultInjector({ exportFailureRate: 0.25 }, 3);
    const b = new FaultInjector({ exportFailureRate: 0.25 }, 3);
    const failedA = ids.filter((id) => a.shouldFailExport(id));
    expect(ids.filter((id) => b.shouldFailExport(id))).toEqual(failedA);
    expect(failedA.length).toBeGreaterThan(25);
    expect(failedA.length).toBeLessThan(75);
    a.set({ exportFailureRate: 0 });
    expect(a.shouldFailExport(failedA[0]!)).toBe(true);
    expect(a.shouldFailExport('export-new')).toBe(false);
    expect(a.snapshot().total.exportFailure).toBe(failedA.length);
    expect(new FaultInjector({}, 3).shouldFailExport('export-1')).toBe(false);
  });

  it('rejects a bad config at start with the field named', () => {
    expect(() => parseFaultConfig({ resetRate: -1, bogus: 1 }, 'faults.sp-api')).toThrow(FaultConfigError);
    expect(() => parseFaultConfig({ resetRate: -1 }, 'faults.sp-api')).toThrow(/faults\.sp-api\.resetRate/);
  });
});
