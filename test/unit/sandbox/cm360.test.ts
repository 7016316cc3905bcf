import { createHash } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cm360GroundTruth, ExpectedInvoice } from '../../../infra/sandbox/cm360/data.ts';
import { cm360Simulator } from '../../../infra/sandbox/cm360/index.ts';
import { type Sandbox, startSandbox } from '../../../infra/sandbox/index.ts';
import { googleToken } from '../../helpers/sandbox-token.ts';

/**
 * The CM360 simulator on its own: what a client meets (Google bearer tokens from both credential styles,
 * 401s in Google's error shape, advertisers and invoices per issue month with maxResults/pageToken, int64
 * micros as strings that add up, PDFs behind the bearer token, the consolidated advertiser's error and the
 * quota errors), against the ground truth a provider integration test compares with.
 */

const SA = 'cm-sa';
const RT = 'cm-rt';
const CONFIGURED_PROFILE = '7654321';
const OPTIONS = {
  lastIssueMonth: '202405',
  months: 4,
  // Generous, so only the quota test meets the limits (it sets its own).
  rateLimit: { rate: 10_000, burst: 10_000 },
  userQuota: { rate: 10_000, burst: 10_000 },
  projectQuota: { rate: 10_000, burst: 10_000 },
};

interface Invoice {
  id: string;
  invoiceType: string;
  subtotalAmountMicros: string;
  totalTaxAmountMicros: string;
  totalAmountMicros: string;
  correctedInvoiceId?: string;
  replacedInvoiceIds?: string[];
  pdfUrl: string;
  campaign_summaries: Array<{
    preTaxAmountMicros: string;
    taxAmountMicros: string;
    totalAmountMicros: string;
  }>;
}

interface GoogleError {
  error: { code: number; message: string; status: string; errors: Array<{ reason: string; domain: string }> };
}

const start = (seed: number) =>
  startSandbox({
    seed,
    timeScale: 10,
    simulators: [cm360Simulator],
    connections: [
      { id: SA, provider: 'cm360', profileId: CONFIGURED_PROFILE },
      { id: RT, provider: 'cm360' },
    ],
    googleAuth: { [RT]: 'refresh-token' },
    options: { cm360: OPTIONS },
    log: () => {},
  });

describe('CM360 simulator', () => {
  let sandbox: Sandbox;
  let sim: string;
  let truth: Cm360GroundTruth;
  let otherProfile: string;
  const tokens: Record<string, string> = {};

  const get = async (url: string, token: string | null = tokens[SA]!) => {
    const res = await request(url.startsWith('http') ? url : `${sim}${url}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    const isJson = String(res.headers['content-type']).startsWith('application/json');
    return {
      status: res.statusCode,
      headers: res.headers,
      bytes,
      text: bytes.toString('utf8'),
      body: (isJson ? JSON.parse(bytes.toString('utf8')) : {}) as Record<string, unknown>,
    };
  };
  const admin = async (path: string, body?: unknown) => {
    const res = await request(`${sim}/__sandbox${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return (await res.body.json()) as Record<string, unknown>;
  };
  const base = (profileId = CONFIGURED_PROFILE) => `/dfareporting/v4/userprofiles/${profileId}`;
  const invoicesPath = (advertiserId: string, query: string) =>
    `${base()}/advertisers/${advertiserId}/invoices?${query}`;
  const billed = () => truth.advertisers.filter((a) => a.invoices);

  /** Every invoice of one advertiser's month, following nextPageToken. */
  const allPages = async (advertiserId: string, month: string, maxResults: number) => {
    const invoices: Invoice[] = [];
    let pages = 0;
    let token: string | undefined;
    do {
      const q = `issueMonth=${month}&maxResults=${maxResults}${token ? `&pageToken=${token}` : ''}`;
      const res = await get(invoicesPath(advertiserId, q));
      expect(res.status).toBe(200);
      expect(res.body.kind).toBe('dfareporting#advertiserInvoicesListResponse');
      invoices.push(...((res.body.invoices as Invoice[] | undefined) ?? []));
      token = res.body.nextPageToken as string | undefined;
      pages += 1;
    } while (token);
    return { invoices, pages };
  };

  beforeAll(async () => {
    sandbox = await start(11);
    sim = sandbox.endpoints.cm360!;
    tokens[SA] = await googleToken(sandbox, SA);
    tokens[RT] = await googleToken(sandbox, RT);
    truth = (await admin(`/cm360/ground-truth?connection=${SA}`)) as unknown as Cm360GroundTruth;
    otherProfile = ((await admin(`/cm360/ground-truth?connection=${RT}`)) as unknown as Cm360GroundTruth)
      .profileId;
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  it('serves each connection its own profile to a service-account token and to a refresh-token token', async () => {
    expect(truth.profileId).toBe(CONFIGURED_PROFILE);
    const mine = await get(`${base()}/advertisers`);
    expect(mine.status).toBe(200);
    expect(mine.body.kind).toBe('dfareporting#advertisersListResponse');
    const ads = mine.body.advertisers as Array<{ id: string; kind: string }>;
    expect(ads.map((a) => a.id).sort()).toEqual(truth.advertisers.map((a) => a.advertiserId).sort());
    expect(ads[0]!.kind).toBe('dfareporting#advertiser');

    expect(otherProfile).not.toBe(CONFIGURED_PROFILE);
    const theirs = await get(`${base(otherProfile)}/advertisers?maxResults=2`, tokens[RT]!);
    expect(theirs.status).toBe(200);
    expect((theirs.body.advertisers as unknown[]).length).toBe(2);
    expect(theirs.body.nextPageToken).toEqual(expect.any(String));
    // A user cannot name another user's profile.
    const foreign = await get(`${base(otherProfile)}/advertisers`);
    expect(foreign.status).toBe(403);
    expect((foreign.body as unknown as GoogleError).error.status).toBe('PERMISSION_DENIED');
  });

  it('answers 401 in Google error shape without a token, with an unknown one and with an expired one', async () => {
    const path = invoicesPath(billed()[0]!.advertiserId, 'issueMonth=202405');
    const missing = await get(path, null);
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(missing.body).toEqual({
      error: {
        code: 401,
        message: expect.stringContaining('missing required authentication credential'),
        errors: [{ message: 'Login Required.', domain: 'global', reason: 'required' }],
        status: 'UNAUTHENTICATED',
      },
    });
    const unknown = await get(path, 'ya29.not-a-token');
    expect(unknown.status).toBe(401);
    expect((unknown.body as unknown as GoogleError).error.errors[0]!.reason).toBe('authError');

    const doomed = await googleToken(sandbox, RT);
    sandbox.google.expireAll();
    const expired = await get(path, doomed);
    expect(expired.status).toBe(401);
    expect((expired.body as unknown as GoogleError).error.status).toBe('UNAUTHENTICATED');
    tokens[SA] = await googleToken(sandbox, SA);
    tokens[RT] = await googleToken(sandbox, RT);
  });

  it('pages every issue month with maxResults and nextPageToken: each invoice once, as the ground truth lists it', async () => {
    let paged = 0;
    for (const adv of billed()) {
      for (const month of truth.issueMonths) {
        const expected = adv.invoices![month]!;
        const { invoices, pages } = await allPages(adv.advertiserId, month, 2);
        expect(invoices.map((i) => i.id)).toEqual(expected.map((e) => e.id));
        expect(new Set(invoices.map((i) => i.id)).size).toBe(invoices.length);
        expect(pages).toBe(Math.max(1, Math.ceil(expected.length / 2)));
        if (pages > 1) paged += 1;
      }
    }
    expect(paged).toBeGreaterThan(0);

    const month = truth.issueMonths[0]!;
    const adv = billed()[0]!.advertiserId;
    const empty = await get(invoicesPath(adv, 'issueMonth=201001'));
    expect(empty.body).toEqual({ kind: 'dfareporting#advertiserInvoicesListResponse' });
    const first = await get(invoicesPath(billed()[1]!.advertiserId, `issueMonth=${month}&maxResults=1`));
    const replayed = await get(
      invoicesPath(adv, `issueMonth=${month}&pageToken=${first.body.nextPageToken as string}`),
    );
    expect(replayed.status).toBe(400);
    const noMonth = await get(invoicesPath(adv, ''));
    expect(noMonth.status).toBe(400);
    expect((noMonth.body as unknown as GoogleError).error.errors[0]!.reason).toBe('required');
    expect((await get(invoicesPath(adv, 'issueMonth=2024-05'))).status).toBe(400);
  });

  it('sends micros as exact int64 strings (beyond 2^53 too) whose campaign summaries add up to the invoice', async () => {
    const seen: Invoice[] = [];
    let huge: Invoice | undefined;
    for (const adv of billed()) {
      for (const month of truth.issueMonths) {
        const res = await get(invoicesPath(adv.advertiserId, `issueMonth=${month}`));
        const expected = new Map(adv.invoices![month]!.map((e) => [e.id, e]));
        for (const inv of (res.body.invoices as Invoice[] | undefined) ?? []) {
          seen.push(inv);
          const e = expected.get(inv.id) as ExpectedInvoice;
          expect(inv.subtotalAmountMicros).toBe(e.subtotalAmountMicros);
          expect(inv.totalTaxAmountMicros).toBe(e.totalTaxAmountMicros);
          expect(inv.totalAmountMicros).toBe(e.totalAmountMicros);
          const sum = (k: 'preTaxAmountMicros' | 'taxAmountMicros' | 'totalAmountMicros') =>
            inv.campaign_summaries.reduce((n, c) => n + BigInt(c[k]), 0n);
          expect(sum('preTaxAmountMicros')).toBe(BigInt(inv.subtotalAmountMicros));
          expect(sum('taxAmountMicros')).toBe(BigInt(inv.totalTaxAmountMicros));
          expect(sum('totalAmountMicros')).toBe(BigInt(inv.totalAmountMicros));
          expect(BigInt(inv.subtotalAmountMicros) + BigInt(inv.totalTaxAmountMicros)).toBe(
            BigInt(inv.totalAmountMicros),
          );
          if (BigInt(inv.totalAmountMicros) > 2n ** 53n) {
            huge = inv;
            // The digits are in the JSON text as a string, not a number a parser would round.
            expect(res.text).toContain('"preTaxAmountMicros":"9007199254740993"');
          }
        }
      }
    }
    expect(huge?.subtotalAmountMicros).toBe('1234567890123456789');
    const ids = new Set(seen.map((i) => i.id));
    const credit = seen.find((i) => i.invoiceType === 'INVOICE_TYPE_CREDIT');
    expect(credit).toBeDefined();
    expect(ids.has(credit!.correctedInvoiceId!)).toBe(true);
    expect(BigInt(credit!.totalAmountMicros)).toBeLessThan(0n);
    const rebill = seen.find((i) => i.replacedInvoiceIds?.length);
    expect(rebill?.replacedInvoiceIds?.every((id) => ids.has(id))).toBe(true);
  });

  it('serves pdfUrl only with the bearer token of the user it was listed for, for 7 days', async () => {
    const adv = billed()[0]!;
    const month = truth.issueMonths[1]!;
    const res = await get(invoicesPath(adv.advertiserId, `issueMonth=${month}`));
    const inv = (res.body.invoices as Invoice[])[0]!;
    const expected = adv.invoices![month]![0]!;

    const anonymous = await get(inv.pdfUrl, null);
    expect(anonymous.status).toBe(401);
    expect((anonymous.body as unknown as GoogleError).error.status).toBe('UNAUTHENTICATED');
    expect((await get(inv.pdfUrl, tokens[RT]!)).status).toBe(403);

    const pdf = await get(inv.pdfUrl);
    expect(pdf.status).toBe(200);
    expect(pdf.headers['content-type']).toBe('application/pdf');
    expect(Number(pdf.headers['content-length'])).toBe(pdf.bytes.length);
    expect(pdf.bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(pdf.bytes.subarray(-6).toString('latin1')).toBe('%%EOF\n');
    expect(createHash('sha256').update(pdf.bytes).digest('hex')).toBe(expected.pdf.sha256);
    expect(pdf.bytes.length).toBe(expected.pdf.bytes);

    sandbox.clock.advance(7 * 86_400_000 + 1_000);
    expect((await get(inv.pdfUrl)).status).toBe(403);
  });

  it('gives a PDF the same faults whenever its pdfUrl was listed (its ts and sig are not the request)', async () => {
    const listed = async () => {
      const urls: string[] = [];
      for (const adv of billed()) {
        for (const month of truth.issueMonths) {
          const res = await get(invoicesPath(adv.advertiserId, `issueMonth=${month}`));
          urls.push(...((res.body.invoices as Invoice[] | undefined) ?? []).map((i) => i.pdfUrl));
        }
      }
      return urls;
    };
    const first = await listed();
    sandbox.clock.advance(3_600_000);
    const later = await listed();
    expect(later).not.toEqual(first);
    // Half the PDFs fail, which half fixed by the seed: the links signed an hour later meet the same ones.
    const statuses = async (urls: readonly string[]) => {
      await admin('/faults', { serverErrorRate: 0.5, operations: ['invoicePdf'] });
      try {
        const out: number[] = [];
        for (const url of urls) out.push((await get(url)).status);
        return out;
      } finally {
        await admin('/faults', {});
      }
    };
    const before = await statuses(first);
    expect(new Set(before).size, 'some PDFs fail and some do not').toBeGreaterThan(1);
    expect(await statuses(later)).toEqual(before);
  });

  it('answers the consolidated advertiser with 400 FAILED_PRECONDITION, and v5 paths like v4', async () => {
    const consolidated = truth.advertisers.find((a) => a.billingLevel === 'CONSOLIDATED')!;
    expect(consolidated.invoices).toBeUndefined();
    const res = await get(invoicesPath(consolidated.advertiserId, `issueMonth=${truth.issueMonths[0]}`));
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: {
        code: 400,
        message: expect.stringContaining('invoice level'),
        errors: [{ message: expect.any(String), domain: 'global', reason: 'failedPrecondition' }],
        status: 'FAILED_PRECONDITION',
      },
    });

    const adv = billed()[1]!.advertiserId;
    const v4 = await get(invoicesPath(adv, `issueMonth=${truth.issueMonths[2]}`));
    const v5 = await get(invoicesPath(adv, `issueMonth=${truth.issueMonths[2]}`).replace('/v4/', '/v5/'));
    expect(v5.status).toBe(200);
    const ids = (r: typeof v4) => (r.body.invoices as Invoice[]).map((i) => i.id);
    expect(ids(v5)).toEqual(ids(v4));
  });

  it('answers quota errors as Google does: 403 userRateLimitExceeded, 403 rateLimitExceeded, 429, and injected 5xx', async () => {
    const path = `${base()}/advertisers`;
    const reasonOf = (r: { body: Record<string, unknown> }) => (r.body as unknown as GoogleError).error;
    try {
      await admin('/settings', { userQuota: { rate: 0.001, burst: 1 } });
      expect((await get(path)).status).toBe(200);
      const user = await get(path);
      expect(user.status).toBe(403);
      expect(reasonOf(user)).toMatchObject({
        code: 403,
        status: 'PERMISSION_DENIED',
        errors: [{ reason: 'userRateLimitExceeded', domain: 'usageLimits' }],
      });

      await admin('/settings', { ...OPTIONS, projectQuota: { rate: 0.001, burst: 1 } });
      // The project's quota is shared: another user's call uses it up.
      expect((await get(`${base(otherProfile)}/advertisers`, tokens[RT]!)).status).toBe(200);
      const project = await get(path);
      expect(project.status).toBe(403);
      expect(reasonOf(project).errors[0]!.reason).toBe('rateLimitExceeded');

      await admin('/settings', { ...OPTIONS, rateLimit: { rate: 0.001, burst: 1 } });
      await request(`${sim}/__sandbox/rate-limits/reset`, { method: 'POST' }).then((r) => r.body.text());
      expect((await get(path)).status).toBe(200);
      const throttled = await get(path);
      expect(throttled.status).toBe(429);
      expect(reasonOf(throttled)).toMatchObject({
        status: 'RESOURCE_EXHAUSTED',
        errors: [{ reason: 'rateLimitExceeded', domain: 'usageLimits' }],
      });
      expect(throttled.headers['retry-after']).toBeUndefined();
      expect(throttled.headers['x-amzn-ratelimit-limit']).toBeUndefined();
    } finally {
      await admin('/settings', OPTIONS);
    }

    await admin('/faults', { serverErrorRate: 1, operations: ['advertiserInvoices.list'] });
    try {
      const failed = await get(invoicesPath(billed()[0]!.advertiserId, 'issueMonth=202405'));
      expect([500, 503]).toContain(failed.status);
      expect(reasonOf(failed).errors[0]!.reason).toBe('backendError');
      expect((await get(path)).status).toBe(200);
    } finally {
      await admin('/faults', {});
    }
  });

  it('gives the same data for the same seed and other data for another seed', async () => {
    const same = await start(11);
    const other = await start(12);
    try {
      const truthOf = async (s: Sandbox) =>
        (await request(`${s.endpoints.cm360}/__sandbox/cm360/ground-truth?connection=${RT}`)).body.json();
      const mine = await truthOf(sandbox);
      expect(await truthOf(same)).toEqual(mine);
      expect(await truthOf(other)).not.toEqual(mine);

      const listing = async (s: Sandbox) => {
        const t = (mine as Cm360GroundTruth).advertisers[0]!;
        const res = await request(
          `${s.endpoints.cm360}/dfareporting/v4/userprofiles/${(mine as Cm360GroundTruth).profileId}/advertisers/${t.advertiserId}/invoices?issueMonth=202404`,
          { headers: { authorization: `Bearer ${await googleToken(s, RT)}` } },
        );
        const body = (await res.body.json()) as { invoices: Invoice[] };
        return body.invoices.map(({ pdfUrl: _, ...rest }) => rest);
      };
      expect(await listing(same)).toEqual(await listing(sandbox));
    } finally {
      await Promise.all([same.close(), other.close()]);
    }
  });
});
