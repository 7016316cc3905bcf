import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { amazonErrorList } from '../../../infra/sandbox/framework/errors.ts';
import { fail, json, type SimRequest } from '../../../infra/sandbox/framework/http.ts';
import { createRng } from '../../../infra/sandbox/framework/seed.ts';
import { createSimServer } from '../../../infra/sandbox/framework/server.ts';
import { generatedStream } from '../../../infra/sandbox/framework/signed-url.ts';
import { JWT_BEARER_GRANT, signJwtRs256 } from '../../../infra/sandbox/google-oauth.ts';
import {
  type GoogleServiceAccountSecret,
  type LwaSecret,
  type Sandbox,
  type SimulatorContext,
  type SimulatorFactory,
  startSandbox,
} from '../../../infra/sandbox/index.ts';
import { lwaToken } from '../../helpers/sandbox-token.ts';

/**
 * A tiny example simulator (tests only): SP-API-style auth, a seeded invoice list per connection, and
 * an export that takes two simulated minutes and ends in a pre-signed download.
 */
const ledgerSimulator: SimulatorFactory = {
  name: 'ledger',
  provider: 'sp-api',
  async start(ctx: SimulatorContext) {
    const invoicesOf = (connection: string) => {
      const rng = createRng(`${ctx.seed}/ledger/${connection}`);
      return Array.from({ length: 3 * ctx.size }, (_, i) => {
        const r = rng.fork(i);
        return {
          id: r.id('INV-', 8),
          date: r.date('2025-01-01', '2025-06-30'),
          total: r.amount(100, 500_000),
        };
      });
    };
    const exports = new Map<string, { createdAt: number; connection: string }>();
    let exportSeq = 0;
    const grantOf = (req: SimRequest) => {
      const check = ctx.lwa.check(req.header('x-amz-access-token'));
      return check.ok ? check.info.subject : undefined;
    };

    return createSimServer({
      ...ctx.server,
      errorBody: amazonErrorList,
      downloads: {
        open: (key) =>
          exports.has(key)
            ? { contentLength: 4096, contentType: 'application/zip', body: () => generatedStream(4096, key) }
            : undefined,
      },
      routes: [
        {
          method: 'GET',
          path: '/ledger/invoices',
          operation: 'getInvoices',
          rateLimit: { rate: 1, burst: 5 },
          handler: (req) => {
            const connection = grantOf(req);
            if (!connection) return fail(403, 'Unauthorized', 'Access to requested resource is denied.');
            return json(200, { connection, invoices: invoicesOf(connection) });
          },
        },
        {
          method: 'POST',
          path: '/ledger/exports',
          operation: 'createExport',
          handler: (req, sim) => {
            const connection = grantOf(req);
            if (!connection) return fail(403, 'Unauthorized', 'Access to requested resource is denied.');
            const exportId = `EXP-${++exportSeq}`;
            exports.set(exportId, { createdAt: sim.clock.simNow(), connection });
            return json(202, { exportId });
          },
        },
        {
          method: 'GET',
          path: '/ledger/exports/:exportId',
          operation: 'getExport',
          handler: (req, sim) => {
            const exp = exports.get(req.params.exportId!);
            if (!exp || exp.connection !== grantOf(req)) return fail(404, 'NotFound', 'No such export.');
            if (sim.clock.simNow() < exp.createdAt + 120_000) return json(200, { status: 'PROCESSING' });
            if (sim.faults.shouldFailExport(req.params.exportId!)) {
              return json(200, { status: 'ERROR', errorMessage: 'The export failed.' });
            }
            return json(200, {
              status: 'DONE',
              url: sim.downloads.issue(req.params.exportId!, { ttlSeconds: 30 }),
            });
          },
        },
      ],
    });
  },
};

const CONNECTIONS = [
  { id: 'sp-a', provider: 'sp-api' },
  { id: 'sp-b', provider: 'sp-api' },
  { id: 'ads-1', provider: 'amazon-ads' },
  { id: 'cm-1', provider: 'cm360' },
  { id: 'cm-2', provider: 'cm360' },
] as const;

const sandboxes: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((s) => s.close()));
});

async function start(extra: Partial<Parameters<typeof startSandbox>[0]> = {}) {
  const sandbox = await startSandbox({
    seed: 5,
    timeScale: 60,
    connections: CONNECTIONS,
    // RSA key generation is the slow part of a start: only tests about service accounts pay for it.
    googleAuth: 'refresh-token',
    simulators: [ledgerSimulator],
    log: () => {},
    ...extra,
  });
  sandboxes.push(sandbox);
  return sandbox;
}

async function call(url: string, token: string, method: 'GET' | 'POST' = 'GET') {
  const res = await request(url, { method, headers: { 'x-amz-access-token': token } });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

describe('startSandbox', () => {
  it('mints a secret per connection: one LWA app per provider, a refresh token per connection, Google keys', async () => {
    const sandbox = await start({ googleAuth: { 'cm-2': 'refresh-token' } });
    const spA = sandbox.credentials['sp-a'] as LwaSecret;
    const spB = sandbox.credentials['sp-b'] as LwaSecret;
    const ads = sandbox.credentials['ads-1'] as LwaSecret;
    expect(spA.clientId).toBe(spB.clientId);
    expect(spA.refreshToken).not.toBe(spB.refreshToken);
    expect(ads.clientId).not.toBe(spA.clientId);
    expect(spA.refreshToken).toMatch(/^Atzr\|/);
    const sa = (sandbox.credentials['cm-1'] as GoogleServiceAccountSecret).serviceAccount;
    expect(sa.token_uri).toBe(sandbox.tokenUrls.google);
    expect(sa.private_key).toContain('BEGIN PRIVATE KEY');
    expect(sandbox.credentials['cm-2']).toMatchObject({ refreshToken: expect.stringMatching(/^1\/\/0/) });
    expect(Object.keys(sandbox.endpoints).sort()).toEqual(['google', 'ledger', 'lwa']);
    expect(sandbox.tokenUrls.lwa).toBe(`${sandbox.endpoints.lwa}/auth/o2/token`);
  });

  it('serves a simulator end to end: token, per-connection seeded data, 403 after tokens expire', async () => {
    const sandbox = await start();
    const tokenA = await lwaToken(sandbox, 'sp-a');
    const a = await call(`${sandbox.endpoints.ledger}/ledger/invoices`, tokenA);
    expect(a.status).toBe(200);
    expect(a.body.connection).toBe('sp-a');
    expect(a.body.invoices).toHaveLength(3);
    const b = await call(`${sandbox.endpoints.ledger}/ledger/invoices`, await lwaToken(sandbox, 'sp-b'));
    expect(b.body.invoices).not.toEqual(a.body.invoices);

    sandbox.lwa.expireAll();
    const expired = await call(`${sandbox.endpoints.ledger}/ledger/invoices`, tokenA);
    expect(expired.status).toBe(403);
    expect(expired.body).toEqual({
      errors: [{ code: 'Unauthorized', message: 'Access to requested resource is denied.' }],
    });
    expect(
      (await call(`${sandbox.endpoints.ledger}/ledger/invoices`, await lwaToken(sandbox, 'sp-a'))).status,
    ).toBe(200);

    const stats = sandbox.stats();
    expect(Object.keys(stats).sort()).toEqual(['google', 'ledger', 'lwa']);
    expect(stats.ledger!.operations.getInvoices).toMatchObject({ requests: 4, statuses: { 200: 3, 403: 1 } });
    expect(stats.lwa!.operations.token!.requests).toBe(3);
  });

  it('runs an export that takes two simulated minutes on the shared clock, then downloads it', async () => {
    const sandbox = await start();
    const token = await lwaToken(sandbox, 'sp-a');
    const created = await call(`${sandbox.endpoints.ledger}/ledger/exports`, token, 'POST');
    expect(created.status).toBe(202);
    const statusUrl = `${sandbox.endpoints.ledger}/ledger/exports/${created.body.exportId}`;
    expect((await call(statusUrl, token)).body.status).toBe('PROCESSING');

    // Advancing through any server's admin endpoint moves the one clock every server shares.
    const before = sandbox.clock.simNow();
    const adv = await request(`${sandbox.endpoints.lwa}/__sandbox/clock`, {
      method: 'POST',
      body: JSON.stringify({ advanceSeconds: 120 }),
    });
    await adv.body.dump();
    expect(sandbox.clock.simNow() - before).toBeGreaterThanOrEqual(120_000);

    const done = await call(statusUrl, token);
    expect(done.body.status).toBe('DONE');
    const download = await request(done.body.url as string);
    expect(download.statusCode).toBe(200);
    expect((await download.body.arrayBuffer()).byteLength).toBe(4096);
  });

  it('applies fault configs by simulator name, with "*" for every provider simulator', async () => {
    const sandbox = await start({ faults: { '*': { exportFailureRate: 1 } } });
    const token = await lwaToken(sandbox, 'sp-a');
    const created = await call(`${sandbox.endpoints.ledger}/ledger/exports`, token, 'POST');
    sandbox.clock.advance(120_000);
    const status = await call(`${sandbox.endpoints.ledger}/ledger/exports/${created.body.exportId}`, token);
    expect(status.body).toEqual({ status: 'ERROR', errorMessage: 'The export failed.' });
    expect(sandbox.stats().ledger!.faults.total.exportFailure).toBe(1);
    expect(sandbox.stats().lwa!.faults.total.exportFailure).toBe(0);

    await expect(start({ faults: { ledger: { serverErrorRate: 3 } } })).rejects.toThrow(
      /faults\.ledger\.serverErrorRate/,
    );
  });

  it('gets a Google token with the minted service account key and refresh token', async () => {
    const sandbox = await start({ googleAuth: { 'cm-2': 'refresh-token' } });
    const sa = (sandbox.credentials['cm-1'] as GoogleServiceAccountSecret).serviceAccount;
    const now = Math.floor(Date.now() / 1000);
    const assertion = signJwtRs256(
      {
        iss: sa.client_email,
        scope: 'https://www.googleapis.com/auth/dfatrafficking',
        aud: sa.token_uri,
        iat: now,
        exp: now + 3600,
      },
      sa.private_key,
    );
    const res = await request(sa.token_uri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }).toString(),
    });
    const token = ((await res.body.json()) as { access_token: string }).access_token;
    expect(sandbox.google.verify(token)).toMatchObject({ subject: 'cm-1', grant: 'service_account' });

    const rt = sandbox.credentials['cm-2'] as LwaSecret;
    const refreshed = await request(sandbox.tokenUrls.google, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: rt.refreshToken,
        client_id: rt.clientId,
        client_secret: rt.clientSecret,
      }).toString(),
    });
    const t2 = ((await refreshed.body.json()) as { access_token: string }).access_token;
    expect(sandbox.google.verify(t2)).toMatchObject({ subject: 'cm-2', grant: 'refresh_token' });
  });

  it('gives the same credentials and data for the same seed, and other ones for another seed', async () => {
    const one = await start();
    const two = await start();
    const three = await start({ seed: 6 });
    expect(two.credentials['sp-a']).toEqual(one.credentials['sp-a']);
    expect(three.credentials['sp-a']).not.toEqual(one.credentials['sp-a']);
    const list = async (s: Sandbox) =>
      (await call(`${s.endpoints.ledger}/ledger/invoices`, await lwaToken(s, 'sp-a'))).body.invoices;
    expect(await list(two)).toEqual(await list(one));
    expect(await list(three)).not.toEqual(await list(one));
    const bigger = await start({ size: 2 });
    expect(await list(bigger)).toHaveLength(6);
  });

  it('closes every server, and closes what it started when a simulator fails to start', async () => {
    const sandbox = await startSandbox({
      simulators: [ledgerSimulator],
      connections: CONNECTIONS,
      googleAuth: 'refresh-token',
      log: () => {},
    });
    await sandbox.close();
    expect(sandbox.lwa.server.listening).toBe(false);
    expect(sandbox.google.server.listening).toBe(false);
    const ledger = await request(`${sandbox.endpoints.ledger}/ledger/invoices`).catch((e: Error) => e);
    expect(ledger).toBeInstanceOf(Error);

    let seen: SimulatorContext | undefined;
    const broken: SimulatorFactory = {
      name: 'broken',
      async start(ctx) {
        seen = ctx;
        throw new Error('cannot start broken');
      },
    };
    await expect(startSandbox({ simulators: [ledgerSimulator, broken], log: () => {} })).rejects.toThrow(
      'cannot start broken',
    );
    expect(seen!.lwa.server.listening).toBe(false);
    expect(seen!.google.server.listening).toBe(false);

    await expect(startSandbox({ simulators: [ledgerSimulator, ledgerSimulator] })).rejects.toThrow(
      'simulators: the name "ledger" is used twice (or is reserved)',
    );
  });
});
