import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lwaSecretSchema } from '../../../shared/auth/secret-schemas.ts';
import {
  type GetSecretOptions,
  getSecretJson,
  parseSecret,
  resetSecretCache,
  SecretError,
} from '../../../shared/aws/secrets.ts';
import { sendJson, startServer, type TestServer } from '../../helpers/http-server.ts';

const stored: Record<string, string> = {
  'ads/eu': JSON.stringify({ clientId: 'cid', clientSecret: 'S3CRET-value', refreshToken: 'Atzr|R' }),
  'bad/json': 'clientSecret=S3CRET-value',
};

/** Speaks enough of the Secrets Manager JSON protocol for GetSecretValue. */
let server: TestServer;
const saved: Record<string, string | undefined> = {};
const env = {
  AWS_ENDPOINT_URL_SECRETS_MANAGER: '',
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
};

beforeAll(async () => {
  server = await startServer((req, res) => {
    const target = req.headers['x-amz-target'];
    if (target !== 'secretsmanager.GetSecretValue')
      return sendJson(res, 400, { __type: 'UnknownOperationException' });
    const { SecretId } = JSON.parse(req.body) as { SecretId: string };
    const value = stored[SecretId];
    if (value === undefined) {
      return sendJson(
        res,
        400,
        { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." },
        {
          'content-type': 'application/x-amz-json-1.1',
        },
      );
    }
    sendJson(
      res,
      200,
      { ARN: `arn:aws:secretsmanager:eu-west-1:1:secret:${SecretId}`, Name: SecretId, SecretString: value },
      {
        'content-type': 'application/x-amz-json-1.1',
      },
    );
  });
  env.AWS_ENDPOINT_URL_SECRETS_MANAGER = server.url;
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
});

afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await server.close();
});

afterEach(() => resetSecretCache());

describe('getSecretJson', () => {
  it('reads the secret through the SDK at AWS_ENDPOINT_URL_SECRETS_MANAGER and parses it', async () => {
    expect(await getSecretJson('ads/eu')).toEqual({
      clientId: 'cid',
      clientSecret: 'S3CRET-value',
      refreshToken: 'Atzr|R',
    });
    expect(server.requests.at(-1)!.headers['x-amz-target']).toBe('secretsmanager.GetSecretValue');
  });

  it('caches per name for a few minutes, then reads again', async () => {
    let t = 0;
    let reads = 0;
    const client = {
      send: async () => {
        reads++;
        return { SecretString: JSON.stringify({ n: reads }) };
      },
    } as unknown as NonNullable<GetSecretOptions['client']>;
    const opts = { client, now: () => t };
    expect(await getSecretJson('s', opts)).toEqual({ n: 1 });
    t = 4 * 60_000;
    expect(await getSecretJson('s', opts)).toEqual({ n: 1 });
    t = 5 * 60_000;
    expect(await getSecretJson('s', opts)).toEqual({ n: 2 });
    await Promise.all([getSecretJson('other', opts), getSecretJson('other', opts)]);
    expect(reads).toBe(3);
  });

  it('a missing secret is a SecretError naming it', async () => {
    const err = await getSecretJson('nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretError);
    expect((err as Error).message).toBe('secret "nope": not found');
  });

  it('content that is not JSON is reported without quoting it', async () => {
    const err = await getSecretJson('bad/json').catch((e: unknown) => e);
    expect((err as Error).message).toBe('secret "bad/json": is not JSON');
    expect(JSON.stringify({ ...(err as object), m: (err as Error).message })).not.toContain('S3CRET');
  });
});

describe('parseSecret', () => {
  it('returns the typed value', () => {
    const value = parseSecret(lwaSecretSchema, { clientId: 'a', clientSecret: 'b', refreshToken: 'c' }, 'x');
    expect(value.refreshToken).toBe('c');
  });

  it('names the secret and each bad field, never a value', () => {
    const err = (() => {
      try {
        parseSecret(lwaSecretSchema, { clientId: 'a', clientSecret: 12345678, extra: 'S3CRET' }, 'ads/eu');
      } catch (e) {
        return e as SecretError;
      }
      throw new Error('expected a SecretError');
    })();
    expect(err).toBeInstanceOf(SecretError);
    expect(err.secretName).toBe('ads/eu');
    expect(err.fields).toEqual(['clientSecret', 'refreshToken']);
    expect(err.message).toBe(
      'secret "ads/eu": is invalid: field "clientSecret": expected string; field "refreshToken": missing',
    );
    expect(err.message).not.toContain('12345678');
  });
});
