import { describe, expect, it } from 'vitest';
import { withUrlRenewal } from '../../../shared/engine/url-renewal.ts';
import { ExpiredUrlError } from '../../../shared/http/errors.ts';

const log = { debug() {}, info() {}, warn() {}, error() {} };

describe('withUrlRenewal: documents whose links expire', () => {
  it('asks for a fresh link after each expiry and lands with the fresh one', async () => {
    const urls: number[] = [];
    const out = await withUrlRenewal(
      3,
      async (renewal) => {
        urls.push(renewal);
        if (renewal < 2) throw new ExpiredUrlError('download', 403);
        return `landed with link ${renewal}`;
      },
      log,
      {},
    );
    expect(out).toBe('landed with link 2');
    expect(urls).toEqual([0, 1, 2]);
  });
  it('gives up after the allowed renewals with the expiry, and never renews for other errors', async () => {
    let calls = 0;
    await expect(
      withUrlRenewal(
        2,
        async () => {
          calls += 1;
          throw new ExpiredUrlError('download', 403);
        },
        log,
        {},
      ),
    ).rejects.toMatchObject({ name: 'ExpiredUrlError' });
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      withUrlRenewal(
        2,
        async () => {
          calls += 1;
          throw new Error('reset');
        },
        log,
        {},
      ),
    ).rejects.toThrow('reset');
    expect(calls).toBe(1);
  });
});
