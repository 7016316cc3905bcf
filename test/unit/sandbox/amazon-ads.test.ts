import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amazonAdsSimulator } from '../../../infra/sandbox/amazon-ads/index.ts';
import { type LwaSecret, type Sandbox, startSandbox } from '../../../infra/sandbox/index.ts';
import { lwaToken } from '../../helpers/sandbox-token.ts';

/** The Amazon Ads simulator as a client sees it: auth, profiles, pages, statements and their links. */

describe('amazon-ads simulator', () => {
  let sandbox: Sandbox;
  let base: string;
  let secret: LwaSecret;
  let token: string;

  const call = async (
    path: string,
    headers: Record<string, string> = {},
    init: { method?: 'GET' | 'POST'; body?: string } = {},
  ) => {
    const res = await request(`${base}${path}`, { method: init.method ?? 'GET', headers, body: init.body });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      headers: res.headers,
      text,
      json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
    };
  };
  const auth = (extra: Record<string, string> = {}) => ({
    authorization: `Bearer ${token}`,
    'amazon-advertising-api-clientid': secret.clientId,
    ...extra,
  });

  beforeAll(async () => {
    sandbox = await startSandbox({
      seed: 9,
      timeScale: 60,
      size: 0.1,
      simulators: [amazonAdsSimulator],
      connections: [{ id: 'ads-sim', provider: 'amazon-ads' }],
      options: { 'amazon-ads': { statementSeconds: 600 } },
      log: () => {},
    });
    base = sandbox.endpoints['amazon-ads']!;
    secret = sandbox.credentials['ads-sim'] as LwaSecret;
    token = await lwaToken(sandbox, 'ads-sim');
  });
  afterAll(() => sandbox?.close());

  it('checks the bearer token with the LWA server and the client id header against it', async () => {
    expect((await call('/v2/profiles')).status).toBe(401);
    const wrongToken = await call('/v2/profiles', { ...auth(), authorization: 'Bearer Atza|nope' });
    expect(wrongToken.status).toBe(401);
    expect(wrongToken.json).toMatchObject({ code: 'UNAUTHORIZED' });
    const noClient = await call('/v2/profiles', { authorization: `Bearer ${token}` });
    expect(noClient.status).toBe(400);
    expect(noClient.json?.details).toMatch(/Amazon-Advertising-API-ClientId/);
    const otherClient = await call(
      '/v2/profiles',
      auth({ 'amazon-advertising-api-clientid': 'amzn1.application-oa2-client.other' }),
    );
    expect(otherClient.status).toBe(403);
  });

  it('lists billing profiles only for apiProgram=billing, ids as exact int64 numbers', async () => {
    const all = await call('/v2/profiles', auth());
    const billing = await call('/v2/profiles?apiProgram=billing', auth());
    const ids = (r: { text: string }) => [...r.text.matchAll(/"profileId":(\d+)/g)].map((m) => m[1]);
    expect(ids(all)).toHaveLength(4);
    expect(ids(billing)).toHaveLength(3);
    expect(ids(all)).toEqual(expect.arrayContaining(ids(billing)));
  });

  it('pages with count first and the cursor alone after, in the configured answer shape', async () => {
    const profile = /"profileId":(\d+)/.exec(
      (await call('/v2/profiles?apiProgram=billing', auth())).text,
    )![1]!;
    const scoped = auth({ 'amazon-advertising-api-scope': profile });
    const first = await call('/invoices?startDate=2000-01-01&endDate=2100-01-01&count=2', scoped);
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toBe('application/vnd.invoices.v1.1+json');
    const payload = first.json?.payload as { invoiceSummaries: unknown[]; nextCursor: string | null };
    expect(first.json?.status).toBe('SUCCESS');
    expect(payload.invoiceSummaries).toHaveLength(2);
    expect(payload.nextCursor).toBeTruthy();
    const both = await call(`/invoices?cursor=${payload.nextCursor}&count=2`, scoped);
    expect(both.status).toBe(400);
    expect(both.json?.details).toMatch(/count cannot be combined with cursor/);

    await call(
      '/__sandbox/settings',
      { 'content-type': 'application/json' },
      { method: 'POST', body: '{"answerShape":"unwrapped"}' },
    );
    const next = await call(`/invoices?cursor=${payload.nextCursor}`, scoped);
    expect(next.json?.payload).toBeUndefined();
    expect(Array.isArray(next.json?.invoiceSummaries)).toBe(true);
    expect(next.text).not.toContain((payload.invoiceSummaries[0] as { id: string }).id);
    await call(
      '/__sandbox/settings',
      { 'content-type': 'application/json' },
      { method: 'POST', body: '{"answerShape":"wrapped"}' },
    );
  });

  it('takes simulated time over a statement, then hands out a pre-signed link that expires', async () => {
    const headers = auth({
      'amazon-ads-accountid': 'amzn1.ads-account.g.sim',
      'content-type': 'application/vnd.createbillingstatementsrequest.v1+json',
    });
    const bad = await call('/billingStatements', headers, {
      method: 'POST',
      body: JSON.stringify({
        startDate: '2025-01-01',
        endDate: '2025-01-31',
        locale: 'en_US',
        format: 'CSV',
      }),
    });
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ code: 'INVALID_ARGUMENT', details: 'startDate must be in yyyyMMdd format' });
    const created = await call('/billingStatements', headers, {
      method: 'POST',
      body: JSON.stringify({ startDate: '20000101', endDate: '21000101', locale: 'en_US', format: 'CSV' }),
    });
    expect(created.status).toBe(202);
    const id = created.json?.billingStatementRequestId as string;
    expect((await call(`/billingStatements/${id}`, headers)).json?.reportStatus).toBe('IN_PROGRESS');
    sandbox.clock.advance(600_000);
    const done = await call(`/billingStatements/${id}`, headers);
    expect(done.json?.reportStatus).toBe('SUCCESS');
    const link = done.json?.s3DownloadLink as string;
    const csv = await request(link);
    expect(csv.statusCode).toBe(200);
    expect((await csv.body.text()).split('\r\n')[0]).toMatch(/^Invoice ID,Invoice date,/);
    sandbox.clock.advance(3 * 3600_000 + 1000);
    const late = await request(link);
    expect(late.statusCode).toBe(403);
    expect(await late.body.text()).toMatch(/Request has expired/);
  });
});
