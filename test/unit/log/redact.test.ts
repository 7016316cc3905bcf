import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { requestLwaToken } from '../../../shared/auth/lwa.ts';
import { budgetUntil } from '../../../shared/http/budget.ts';
import { HttpClient } from '../../../shared/http/client.ts';
import { AuthError, ProviderError } from '../../../shared/http/errors.ts';
import { resetBuckets } from '../../../shared/http/token-bucket.ts';
import { asLog, createLogger } from '../../../shared/log/logger.ts';
import { REDACTED, redact, redactText, redactUrl } from '../../../shared/log/redact.ts';
import { sendJson, sendText, startServer, type TestServer } from '../../helpers/http-server.ts';

const ACCESS = 'Atza|IwEBIAccessTokenValue-123';
const REFRESH = 'Atzr|IwEBIRefreshTokenValue-456';
const CLIENT_SECRET = 'amzn1.oa2-cs.v1.ClientSecretValue789';
const SIGNATURE = 'f00dfacecafe0123456789abcdef';
const CREDENTIAL = 'ASIAEXAMPLEKEY%2F20250101%2Fus-east-1%2Fs3%2Faws4_request';
const SESSION = 'IQoJb3JpZ2luX2VjSessionToken';
const PRESIGNED = `https://bucket.s3.amazonaws.com/exports/doc.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${CREDENTIAL}&X-Amz-Date=20250101T000000Z&X-Amz-Expires=30&X-Amz-SignedHeaders=host&X-Amz-Security-Token=${SESSION}&X-Amz-Signature=${SIGNATURE}`;
const SECRETS = [
  ACCESS,
  REFRESH,
  CLIENT_SECRET,
  SIGNATURE,
  CREDENTIAL,
  SESSION,
  'IwEBIAccessTokenValue',
  'IwEBIRefreshTokenValue',
];

function expectClean(text: string): void {
  for (const s of SECRETS) expect(text).not.toContain(s);
}

describe('redactText / redactUrl', () => {
  it('keeps a pre-signed URL usable to read (host, path, expiry) but drops its signing parts', () => {
    const out = redactUrl(PRESIGNED);
    expectClean(out);
    expect(out).toContain('https://bucket.s3.amazonaws.com/exports/doc.zip?');
    expect(out).toContain('X-Amz-Expires=30');
    expect(out).toContain(`X-Amz-Signature=${REDACTED}`);
  });

  it.each([
    [
      'CloudFront',
      'https://d1.cloudfront.net/a.pdf?Expires=1&Signature=SIGVALUE&Key-Pair-Id=KPVALUE&Policy=POLVALUE',
      ['SIGVALUE', 'KPVALUE', 'POLVALUE'],
    ],
    [
      'Google signed URL',
      'https://storage.googleapis.com/b/o?X-Goog-Signature=GSIG&X-Goog-Credential=GCRED',
      ['GSIG', 'GCRED'],
    ],
    ['token in query', 'https://example.com/x?access_token=ya29.ABC&pageToken=keep', ['ya29.ABC']],
    [
      'encoded inside another URL',
      `https://example.com/go?next=${encodeURIComponent(PRESIGNED)}`,
      [SIGNATURE, SESSION],
    ],
    ['userinfo', 'https://user:hunter2pass@example.com/x', ['hunter2pass']],
  ])('%s', (_name, url, secrets) => {
    const out = redactUrl(url);
    for (const s of secrets) expect(out).not.toContain(s);
  });

  it('scrubs tokens, form bodies and JSON bodies in free text', () => {
    const text = [
      `Authorization: Bearer ${ACCESS}`,
      `x-amz-access-token: ${ACCESS}`,
      `grant_type=refresh_token&refresh_token=${encodeURIComponent(REFRESH)}&client_id=cid&client_secret=${CLIENT_SECRET}`,
      JSON.stringify({ access_token: ACCESS, refresh_token: REFRESH, expires_in: 3600 }),
      JSON.stringify(JSON.stringify({ client_secret: CLIENT_SECRET })),
      `google ya29.a0AfH6SMBxyz and 1//0gLongRefreshTokenValueXYZ and eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhQGIifQ.c2lnbmF0dXJl`,
      '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----',
    ].join('\n');
    const out = redactText(text);
    expectClean(out);
    for (const s of [
      'ya29.a0AfH6SMBxyz',
      '1//0gLongRefreshTokenValueXYZ',
      'eyJpc3MiOiJhQGIifQ',
      'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC',
    ]) {
      expect(out).not.toContain(s);
    }
    expect(out).toContain('expires_in');
    expect(out).toContain('client_id=cid');
  });

  it('leaves ordinary text alone', () => {
    const text =
      'invoice INV-1 for profile 123, nextToken=abc, 12.50 BRL, https://api.example.com/v1/invoices?pageSize=10';
    expect(redactText(text)).toBe(text);
  });
});

describe('redact (deep)', () => {
  it('redacts secret-named keys, nested strings and errors, without touching the input', () => {
    const err = new Error(`refused ${PRESIGNED}`, { cause: new Error(`Bearer ${ACCESS}`) });
    const input = {
      headers: {
        Authorization: `Bearer ${ACCESS}`,
        'X-Amz-Access-Token': ACCESS,
        accept: 'application/json',
      },
      secret: { clientId: 'cid', clientSecret: CLIENT_SECRET, refreshToken: REFRESH },
      form: { refresh_token: REFRESH, client_secret: CLIENT_SECRET },
      urls: [PRESIGNED],
      err,
      nextToken: 'page-2',
    };
    const out = redact(input);
    expectClean(JSON.stringify(out));
    expect(out.headers.accept).toBe('application/json');
    expect(out.headers.Authorization).toBe(REDACTED);
    expect(out.nextToken).toBe('page-2');
    expect((out.err as unknown as { message: string }).message).toContain('bucket.s3.amazonaws.com');
    expect(input.headers.Authorization).toBe(`Bearer ${ACCESS}`);
  });

  it('survives cycles', () => {
    const a: Record<string, unknown> = { token: 'x' };
    a.self = a;
    const out = redact(a) as Record<string, unknown>;
    expect(out.token).toBe(REDACTED);
    expect(out.self).toBe(out);
  });
});

describe('end to end: logger lines and error messages carry no secret', () => {
  let server: TestServer;
  let lines: string[];
  let writes: ReturnType<typeof vi.spyOn>[];

  beforeEach(async () => {
    lines = [];
    const capture = (chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    };
    writes = [
      vi.spyOn(process.stdout, 'write').mockImplementation(capture as never),
      vi.spyOn(process.stderr, 'write').mockImplementation(capture as never),
    ];
    // The fake provider echoes what it got back into its error messages, as real ones sometimes do.
    server = await startServer((req, res) => {
      if (req.url.startsWith('/auth/o2/token')) {
        return sendJson(res, 400, {
          error: 'invalid_grant',
          error_description: `bad grant in body: ${req.body}`,
        });
      }
      if (req.url.startsWith('/doc')) return sendText(res, 500, `failed for ${req.url}`);
      return sendJson(res, 400, {
        errors: [
          {
            code: 'InvalidInput',
            message: `token ${req.headers['x-amz-access-token']} refused`,
            details: `see ${PRESIGNED}`,
          },
        ],
      });
    });
  });

  afterEach(async () => {
    for (const w of writes) w.mockRestore();
    await server.close();
    resetBuckets();
  });

  it('through the Powertools logger and the HTTP client', async () => {
    const log = createLogger('redaction-test', { logLevel: 'DEBUG' });
    const http = new HttpClient({
      provider: 'sp-api',
      connection: 'br',
      baseUrl: server.url,
      operations: { getInvoices: { rate: 100, burst: 100 } },
      auth: { style: 'x-amz-access-token', tokens: { get: async () => ACCESS, invalidate: () => undefined } },
      budget: budgetUntil(Date.now() + 60_000),
      downloadHosts: [],
      allowLoopback: true,
      retry: { baseMs: 1, capMs: 1, maxAttempts: 2 },
      sleep: async () => undefined,
      log: asLog(log),
    });

    const apiError = (await http
      .request('getInvoices', { path: '/invoices' })
      .catch((e: unknown) => e)) as ProviderError;
    expect(apiError).toBeInstanceOf(ProviderError);
    const downloadError = (await http
      .download('getInvoicesDocument', `${server.url}/doc.zip?${PRESIGNED.split('?')[1]}`)
      .catch((e: unknown) => e)) as ProviderError;
    expect(downloadError).toBeInstanceOf(ProviderError);
    const authError = (await requestLwaToken({
      connection: 'br',
      region: 'NA',
      secret: { clientId: 'cid', clientSecret: CLIENT_SECRET, refreshToken: REFRESH },
      tokenUrl: `${server.url}/auth/o2/token`,
    }).catch((e: unknown) => e)) as AuthError;
    expect(authError).toBeInstanceOf(AuthError);

    // The provider really did echo the secrets: what follows proves they were scrubbed, not absent.
    expect(server.requests[0]!.headers['x-amz-access-token']).toBe(ACCESS);

    for (const err of [apiError, downloadError, authError]) {
      expectClean(err.message);
      expectClean(JSON.stringify(err));
    }

    log.info('request failed', {
      error: apiError,
      url: PRESIGNED,
      headers: { authorization: `Bearer ${ACCESS}` },
    });
    log.error('token refused', authError);
    log.warn(`raw form: refresh_token=${REFRESH}&client_secret=${CLIENT_SECRET}`);
    log.debug('secret', { secret: { clientSecret: CLIENT_SECRET, refreshToken: REFRESH } });
    log.createChild({ persistentKeys: { connection: 'br' } }).info('child', { token: ACCESS });

    const out = lines.join('');
    expect(out).toContain('request failed');
    expect(out).toContain('token refused');
    expect(out).toContain('http answer');
    expect(out).toContain('"child"');
    expect(out).toContain(REDACTED);
    expectClean(out);
  });
});
