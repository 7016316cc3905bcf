import { Unzip, UnzipInflate } from 'fflate';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../../infra/sandbox/index.ts';
import { spApiSimulator } from '../../../infra/sandbox/sp-api/index.ts';
import { lwaToken } from '../../helpers/sandbox-token.ts';

/**
 * The SP-API simulator on its own: what a client meets (the LWA token checked, the usage plans with
 * x-amzn-RateLimit-Limit and 429s, filters, exports that take simulated time, 30-second document URLs
 * serving ZIPs of NF-e XMLs), so the module's tests run against a faithful stand-in.
 */

const MP = 'A2Q3Y263D00KWC';
const BASE = '/tax/invoices/2024-06-19';
const TIME_SCALE = 10;

describe('SP-API simulator', () => {
  let sandbox: Sandbox;
  let sim: string;
  let token: string;

  const call = async (
    path: string,
    opts: { method?: 'GET' | 'POST'; body?: unknown; token?: string | null } = {},
  ) => {
    const headers: Record<string, string> = {};
    const t = opts.token === undefined ? token : opts.token;
    if (t) headers['x-amz-access-token'] = t;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await request(`${sim}${path}`, {
      method: opts.method ?? 'GET',
      headers,
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      headers: res.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  };
  const reset = async () => {
    await (await request(`${sim}/__sandbox/rate-limits/reset`, { method: 'POST' })).body.text();
  };

  beforeAll(async () => {
    sandbox = await startSandbox({
      seed: 9,
      timeScale: TIME_SCALE,
      simulators: [spApiSimulator],
      connections: [{ id: 'seller-a', provider: 'sp-api' }],
      options: { 'sp-api': { invoices: 30, invoicesPerDocument: 20, exportSeconds: 60 } },
      log: () => {},
    });
    sim = sandbox.endpoints['sp-api']!;
    token = await lwaToken(sandbox, 'seller-a');
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  it('checks the LWA token in x-amz-access-token: missing or unknown is 403 Unauthorized', async () => {
    const missing = await call(`${BASE}/attributes?marketplaceId=${MP}`, { token: null });
    expect(missing.status).toBe(403);
    expect(missing.body).toEqual({ errors: [expect.objectContaining({ code: 'Unauthorized' })] });
    const bogus = await call(`${BASE}/attributes?marketplaceId=${MP}`, { token: 'Atza|bogus' });
    expect(bogus.status).toBe(403);
    await reset();
  });

  it('announces the rate per real second and throttles past the burst', async () => {
    await reset();
    const first = await call(`${BASE}/attributes?marketplaceId=${MP}`);
    expect(first.status).toBe(200);
    expect(first.headers['x-amzn-ratelimit-limit']).toBe(String(1 * TIME_SCALE));
    expect(first.headers['x-amzn-requestid']).toBeDefined();
    const second = await call(`${BASE}/attributes?marketplaceId=${MP}`);
    expect(second.status).toBe(429);
    expect(second.body).toEqual({ errors: [expect.objectContaining({ code: 'QuotaExceeded' })] });
    await reset();
  });

  it('filters invoices by status and type, within explicit dates, and pages with nextToken', async () => {
    const q = (extra: string) =>
      `${BASE}/invoices?marketplaceId=${MP}&dateStart=2000-01-01T00:00:00Z${extra}`;
    const all = await call(q('&pageSize=100'));
    const invoices = all.body.invoices as Array<{ status: string; invoiceType: string }>;
    expect(invoices).toHaveLength(30);
    const authorized = await call(q('&pageSize=100&statuses=AUTHORIZED'));
    expect((authorized.body.invoices as unknown[]).length).toBe(
      invoices.filter((i) => i.status === 'AUTHORIZED').length,
    );
    const unknown = await call(q('&statuses=PAID'));
    expect(unknown.status).toBe(400);
    const page = await call(q('&pageSize=7'));
    expect((page.body.invoices as unknown[]).length).toBe(7);
    const next = await call(q(`&pageSize=7&nextToken=${page.body.nextToken as string}`));
    expect(next.status).toBe(200);
    expect((next.body.invoices as unknown[]).length).toBe(7);
    const none = await call(
      `${BASE}/invoices?marketplaceId=${MP}&dateStart=1990-01-01T00:00:00Z&dateEnd=1990-02-01T00:00:00Z`,
    );
    expect(none.body).toEqual({ invoices: [] });
    await reset();
  });

  it('an export goes REQUESTED, PROCESSING, DONE in simulated time; its document URL serves a ZIP of NF-e XMLs for 30 s', async () => {
    const created = await call(`${BASE}/exports`, {
      method: 'POST',
      body: { marketplaceId: MP, dateStart: '2000-01-01T00:00:00Z', fileFormat: 'XML' },
    });
    expect(created.status).toBe(202);
    const exportId = created.body.exportId as string;
    const status = async () =>
      (await call(`${BASE}/exports/${exportId}`)).body.export as {
        status: string;
        invoicesDocumentIds: string[];
      };
    expect((await status()).status).toBe('REQUESTED');
    sandbox.clock.advance(10_000);
    expect((await status()).status).toBe('PROCESSING');
    expect((await status()).invoicesDocumentIds).toEqual([]);
    sandbox.clock.advance(60_000);
    const done = await status();
    expect(done.status).toBe('DONE');
    expect(done.invoicesDocumentIds).toHaveLength(2);

    const doc = await call(`${BASE}/documents/${done.invoicesDocumentIds[0]}`);
    const url = (doc.body.invoicesDocument as { invoicesDocumentUrl: string }).invoicesDocumentUrl;
    expect(url).toMatch(/X-Amz-Expires=30&/);
    const zip = await request(url);
    expect(zip.statusCode).toBe(200);
    const bytes = new Uint8Array(await zip.body.arrayBuffer());
    expect(bytes.length).toBe(Number(zip.headers['content-length']));
    const names: string[] = [];
    let text = '';
    const unzip = new Unzip((file) => {
      names.push(file.name);
      file.ondata = (_e, data) => {
        if (names.length === 1) text += new TextDecoder().decode(data);
      };
      file.start();
    });
    unzip.register(UnzipInflate);
    unzip.push(bytes, true);
    expect(names).toHaveLength(20);
    expect(names[0]).toMatch(/^\d{44}-nfe\.xml$/);
    expect(text).toContain('<ICMSTot>');

    sandbox.clock.advance(31_000);
    const expired = await request(url);
    expect(expired.statusCode).toBe(403);
    expect(await expired.body.text()).toContain('Request has expired');
    await reset();
  });

  it('an unknown export is 404, and a body without marketplaceId is the model example 400', async () => {
    const missing = await call(`${BASE}/exports/nope`);
    expect(missing.status).toBe(404);
    await reset();
    const bad = await call(`${BASE}/exports`, { method: 'POST', body: { fileFormat: 'XML' } });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      errors: [
        {
          code: '400',
          message: 'Request has missing or invalid parameters and cannot be parsed.',
          details: "Missing required attribute(s): 'marketplaceId'.",
        },
      ],
    });
  });
});
