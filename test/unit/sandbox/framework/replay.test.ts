import { createSign, generateKeyPairSync } from 'node:crypto';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { amazonAdsSimulator } from '../../../../infra/sandbox/amazon-ads/index.ts';
import { createSimClock } from '../../../../infra/sandbox/framework/clock.ts';
import { json } from '../../../../infra/sandbox/framework/http.ts';
import { requestIdentity } from '../../../../infra/sandbox/framework/request-identity.ts';
import { createSimServer, type SimServer } from '../../../../infra/sandbox/framework/server.ts';
import {
  type FaultConfigInput,
  type LwaSecret,
  type Sandbox,
  type SandboxOptions,
  type SimulatorFactory,
  startSandbox,
} from '../../../../infra/sandbox/index.ts';
import { spApiSimulator } from '../../../../infra/sandbox/sp-api/index.ts';

/**
 * Reproducible simulators: one seed and one clock give the same answers, byte for byte, faults
 * included, because nothing a simulator answers or decides hangs on the real time, on random bytes or
 * on the signatures and signing times a client sends back.
 */

const PINNED = '2026-03-01T00:00:00Z';
const MP = 'A2Q3Y263D00KWC';
const SP = '/tax/invoices/2024-06-19';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function sandboxOf(options: Partial<SandboxOptions> = {}): Promise<Sandbox> {
  const sandbox = await startSandbox({
    seed: 11,
    simulators: [spApiSimulator, amazonAdsSimulator],
    connections: [
      { id: 'seller', provider: 'sp-api' },
      { id: 'advertiser', provider: 'amazon-ads' },
    ],
    options: {
      'sp-api': { invoices: 12, invoicesPerDocument: 5, exportSeconds: 60 },
      'amazon-ads': { answerShape: 'alternate', statementSeconds: 60, profiles: 3 },
    },
    log: () => {},
    ...options,
  });
  open.push(sandbox);
  return sandbox;
}

/** A clock that stands still until the test moves it: two runs see the same simulated instants. */
const frozenClock = () => createSimClock({ timeScale: 60, start: Date.parse(PINNED), realNow: () => 0 });

const FAULTS: Record<string, FaultConfigInput> = {
  '*': {
    serverErrorRate: 0.2,
    resetRate: 0.08,
    truncateRate: 0.12,
    expiredUrlRate: 0.5,
    exportFailureRate: 0.3,
    latencyMs: { min: 0, max: 3 },
  },
  lwa: { serverErrorRate: 0.3 },
};

/**
 * A fixed client session against both simulators: every attempt's status, headers (Date aside) and
 * body bytes, with each server's 127.0.0.1:<port> written as its name. Failed calls are retried up
 * to eight times, the retry being the same request again.
 */
async function session(sandbox: Sandbox): Promise<string[]> {
  const transcript: string[] = [];
  const hosts = Object.entries(sandbox.endpoints);
  const unport = (text: string) => hosts.reduce((t, [name, url]) => t.split(url).join(`<${name}>`), text);

  const call = async (
    label: string,
    url: string,
    init: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string } = {},
    advanceSeconds = 61,
  ): Promise<{ status: number; text: string }> => {
    for (let attempt = 1; attempt <= 8; attempt++) {
      // Moves the buckets past their refill: the sequence meets the injected faults, not the limiter.
      sandbox.clock.advance(advanceSeconds * 1000);
      let line: string;
      let done: { status: number; text: string } | undefined;
      try {
        const res = await request(url, {
          method: init.method ?? 'GET',
          headers: init.headers,
          body: init.body,
        });
        const headers = Object.entries(res.headers)
          .filter(([k]) => k !== 'date')
          .map(([k, v]) => `${k}: ${String(v)}`)
          .join('; ');
        try {
          const text = await res.body.text();
          line = `${res.statusCode} [${headers}] ${text}`;
          if (res.statusCode < 500) done = { status: res.statusCode, text };
        } catch {
          line = `${res.statusCode} [${headers}] <truncated>`;
        }
      } catch {
        line = '<reset>';
      }
      transcript.push(unport(`${label} #${attempt}: ${line}`));
      if (done) return done;
    }
    throw new Error(`${label}: no answer in eight attempts`);
  };

  const token = async (connection: string) => {
    const s = sandbox.credentials[connection] as LwaSecret;
    const body = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: s.refreshToken,
      client_id: s.clientId,
      client_secret: s.clientSecret,
    }).toString();
    const res = await call(`token ${connection}`, sandbox.tokenUrls.lwa, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    return (JSON.parse(res.text) as { access_token: string }).access_token;
  };

  // SP-API: a listing over two pages, one invoice, an export, its document and the ZIP behind it.
  const sp = sandbox.endpoints['sp-api']!;
  const spHeaders = { 'x-amz-access-token': await token('seller') };
  const range = `dateStart=2026-01-01T00:00:00Z&dateEnd=2026-03-01T00:00:00Z`;
  const page1 = await call('getInvoices 1', `${sp}${SP}/invoices?marketplaceId=${MP}&${range}&pageSize=5`, {
    headers: spHeaders,
  });
  const listed = JSON.parse(page1.text) as { invoices: Array<{ id: string }>; nextToken?: string };
  const next = encodeURIComponent(listed.nextToken ?? '');
  await call(
    'getInvoices 2',
    `${sp}${SP}/invoices?marketplaceId=${MP}&${range}&pageSize=5&nextToken=${next}`,
    {
      headers: spHeaders,
    },
  );
  await call('getInvoice', `${sp}${SP}/invoices/${listed.invoices[0]!.id}?marketplaceId=${MP}`, {
    headers: spHeaders,
  });
  const created = await call('createInvoicesExport', `${sp}${SP}/exports`, {
    method: 'POST',
    headers: { ...spHeaders, 'content-type': 'application/json' },
    body: JSON.stringify({ marketplaceId: MP, dateStart: '2026-01-01T00:00:00Z', dateEnd: PINNED }),
  });
  const { exportId } = JSON.parse(created.text) as { exportId: string };
  const exported = await call('getInvoicesExport', `${sp}${SP}/exports/${exportId}`, { headers: spHeaders });
  const documentIds = (JSON.parse(exported.text) as { export: { invoicesDocumentIds: string[] } }).export
    .invoicesDocumentIds;
  for (const id of documentIds.slice(0, 2)) {
    const doc = await call(`getInvoicesDocument ${id}`, `${sp}${SP}/documents/${id}`, { headers: spHeaders });
    const { invoicesDocumentUrl } = (
      JSON.parse(doc.text) as { invoicesDocument: { invoicesDocumentUrl: string } }
    ).invoicesDocument;
    await call(`download ${id}`, invoicesDocumentUrl, {}, 0);
  }

  // Amazon Ads: billing profiles, a page of summaries, a detail, its documents, a billing statement.
  const ads = sandbox.endpoints['amazon-ads']!;
  const secret = sandbox.credentials.advertiser as LwaSecret;
  const adsHeaders = {
    authorization: `Bearer ${await token('advertiser')}`,
    'amazon-advertising-api-clientid': secret.clientId,
  };
  const profiles = await call('listProfiles', `${ads}/v2/profiles?apiProgram=billing`, {
    headers: adsHeaders,
  });
  for (const profileId of [...profiles.text.matchAll(/"profileId":(\d+)/g)].map((m) => m[1]!)) {
    const scoped = { ...adsHeaders, 'amazon-advertising-api-scope': profileId };
    const page = await call(`invoices ${profileId}`, `${ads}/invoices?startDate=2025-12-01&count=3`, {
      headers: scoped,
    });
    const id = /"id":"([^"]+)"/.exec(page.text)?.[1];
    if (!id) continue;
    await call(`invoice ${id}`, `${ads}/invoices/${id}`, { headers: scoped });
    const docs = await call(`documents ${id}`, `${ads}/billing/documents/${id}?docType=INVOICE,CREDIT_MEMO`, {
      headers: scoped,
    });
    for (const m of docs.text.matchAll(/"storagePath":"([^"]+)"/g)) await call(`pdf ${id}`, m[1]!, {}, 0);
  }
  const account = { ...adsHeaders, 'amazon-ads-accountid': 'acct-1' };
  const statement = await call('CreateBillingStatement', `${ads}/billingStatements`, {
    method: 'POST',
    headers: { ...account, 'content-type': 'application/vnd.createbillingstatementsrequest.v1+json' },
    body: JSON.stringify({
      startDate: '20260101',
      endDate: '20260228',
      locale: 'en_US',
      countryCodes: ['US'],
    }),
  });
  const statementId = (JSON.parse(statement.text) as { billingStatementRequestId: string })
    .billingStatementRequestId;
  const polled = await call('GetBillingStatement', `${ads}/billingStatements/${statementId}`, {
    headers: account,
  });
  const link = (JSON.parse(polled.text) as { s3DownloadLink?: string }).s3DownloadLink;
  if (link) await call('statement csv', link, {}, 0);
  return transcript;
}

describe('reproducible simulators', () => {
  it('answers a fixed session byte for byte alike for one seed and clock, faults on, and otherwise for another seed', async () => {
    const first = await sandboxOf({ clock: frozenClock(), faults: FAULTS });
    const a = await session(first);
    const b = await session(await sandboxOf({ clock: frozenClock(), faults: FAULTS }));
    expect(b.join('\n')).toBe(a.join('\n'));

    // The session met the faults it claims to survive.
    const text = a.join('\n');
    expect(text).toMatch(/#1: 50[03] /);
    expect(text).toContain('<reset>');
    expect(text).toContain('<truncated>');
    expect(text).toContain('Request has expired');
    const injected = first.stats()['sp-api']!.faults.total;
    expect(injected.serverError + injected.reset + injected.truncate).toBeGreaterThan(0);

    const other = await session(await sandboxOf({ seed: 12, clock: frozenClock(), faults: FAULTS }));
    expect(other.join('\n')).not.toBe(text);
  });

  it('dates the data from the pinned start on every run, however long the sandbox took to start', async () => {
    const seen: number[] = [];
    const probe: SimulatorFactory = {
      name: 'probe',
      async start(ctx) {
        seen.push(ctx.clock.simNow());
        const server = await createSimServer({ ...ctx.server, routes: [] });
        return { url: server.url, stats: () => server.stats(), close: () => server.close() };
      },
    };
    const data = async () => {
      // A CM360 connection mints an RSA service account key first: real time passes before the probe starts.
      const sandbox = await sandboxOf({
        clock: PINNED,
        simulators: [spApiSimulator, amazonAdsSimulator, probe],
        connections: [
          { id: 'cm', provider: 'cm360' },
          { id: 'seller', provider: 'sp-api' },
          { id: 'advertiser', provider: 'amazon-ads' },
        ],
      });
      const get = async (sim: string, path: string) =>
        (await request(`${sandbox.endpoints[sim]}/__sandbox${path}`)).body.text();
      return [
        await get('sp-api', `/sp-api/invoices?connection=seller&marketplaceId=${MP}`),
        await get('amazon-ads', '/data?connection=advertiser'),
      ];
    };
    const [spA, adsA] = await data();
    const [spB, adsB] = await data();
    expect(seen).toEqual([Date.parse(PINNED), Date.parse(PINNED)]);
    expect(spB).toBe(spA);
    expect(adsB).toBe(adsA);
    const dates = (JSON.parse(spA!) as { invoices: Array<{ date: string }> }).invoices.map((i) => i.date);
    expect(dates.length).toBeGreaterThan(0);
    expect(dates.every((d) => d <= PINNED.replace('Z', '.000Z'))).toBe(true);
    const days = [...adsA!.matchAll(/"invoiceDate":"(\d{8})"/g)].map((m) => m[1]!);
    expect(days.length).toBeGreaterThan(0);
    expect(days.every((d) => d < '20260301')).toBe(true);
  });

  it('refuses a clock that is not a time, and a timeScale the given clock does not have', async () => {
    await expect(sandboxOf({ clock: '2026-02-30T00:00:00Z' })).rejects.toThrow(
      'clock: not a calendar date and time, got "2026-02-30T00:00:00Z"',
    );
    await expect(sandboxOf({ clock: '2026-03-01 10:00' })).rejects.toThrow(
      'clock: expected an ISO date-time',
    );
    await expect(sandboxOf({ clock: frozenClock(), timeScale: 10 })).rejects.toThrow(
      "timeScale: 10 differs from the given clock's timeScale 60",
    );
  });
});

describe('request identity', () => {
  const identity = (url: string, body = '', contentType?: string) => {
    const u = new URL(url, 'http://127.0.0.1');
    return requestIdentity({
      method: 'GET',
      path: u.pathname,
      searchParams: u.searchParams,
      rawBody: Buffer.from(body),
      contentType,
    });
  };

  it('leaves out the signature, signing time and expiry of a pre-signed URL, and keeps what it names', () => {
    const at = (date: string, signature: string) =>
      `/__download/ZG9jLzE?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA%2F${date.slice(0, 8)}%2Fs3&X-Amz-Date=${date}&X-Amz-Expires=30&X-Amz-Signature=${signature}`;
    expect(identity(at('20260301T000000Z', 'aa11'))).toBe(identity(at('20260302T101010Z', 'bb22')));
    expect(identity('/__download/ZG9jLzE?X-Amz-Date=1')).not.toBe(
      identity('/__download/ZG9jLzI?X-Amz-Date=1'),
    );
    expect(identity('/invoices?b=2&a=1')).toBe(identity('/invoices?a=1&b=2'));
    expect(identity('/invoices?a=1')).not.toBe(identity('/invoices?a=2'));
  });

  it('keeps who a signed JWT assertion is for, not when it was signed', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const jwt = (claims: Record<string, unknown>) => {
      const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const input = `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}`;
      return `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;
    };
    const form = (iss: string, iat: number) =>
      identity(
        '/token',
        new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
          assertion: jwt({ iss, aud: 'http://x/token', scope: 's', iat, exp: iat + 3600 }),
        }).toString(),
        'application/x-www-form-urlencoded',
      );
    expect(form('a@sa', 1_700_000_000)).toBe(form('a@sa', 1_800_000_000));
    expect(form('a@sa', 1_700_000_000)).not.toBe(form('b@sa', 1_700_000_000));
  });

  it('reads a JSON body by its content, key order and volatile fields aside', () => {
    const ct = 'application/json';
    expect(identity('/exports', '{"a":1,"b":[2,3]}', ct)).toBe(identity('/exports', '{"b":[2,3],"a":1}', ct));
    expect(identity('/exports', '{"a":1,"nonce":"x1"}', ct)).toBe(
      identity('/exports', '{"a":1,"nonce":"y2"}', ct),
    );
    expect(identity('/exports', '{"a":1}', ct)).not.toBe(identity('/exports', '{"a":2}', ct));
  });
});

describe('faults and the rate limiter', () => {
  const servers: SimServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('a 429 of the rate limiter does not move the faults the same request meets next', async () => {
    const start = async (rateLimit?: { rate: number; burst: number }) => {
      const clock = createSimClock({ timeScale: 1, realNow: () => 0 });
      const sim = await createSimServer({
        name: 'limited',
        seed: 5,
        clock,
        faults: { serverErrorRate: 0.5 },
        log: () => {},
        routes: [
          {
            method: 'GET',
            path: '/x',
            operation: 'x',
            ...(rateLimit ? { rateLimit } : {}),
            handler: () => json(200, {}),
          },
        ],
      });
      servers.push(sim);
      return sim;
    };
    const status = async (sim: SimServer) => {
      const res = await request(`${sim.url}/x`);
      await res.body.dump();
      return res.statusCode;
    };

    const free = await start();
    const expected: number[] = [];
    for (let i = 0; i < 12; i++) expected.push(await status(free));

    // One request a simulated second, sent twice a second: every other attempt meets the limiter.
    const limited = await start({ rate: 1, burst: 1 });
    const admitted: number[] = [];
    let limiterHits = 0;
    while (admitted.length < 12) {
      const s = await status(limited);
      if (s === 429) limiterHits++;
      else admitted.push(s);
      limited.clock.advance(500);
    }
    expect(limiterHits).toBeGreaterThan(0);
    expect(admitted).toEqual(expected);
    expect(expected).toContain(200);
    expect(expected.some((s) => s >= 500)).toBe(true);
  });
});
