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
  it('tries a transfer cut short again with the same link, a few times, without asking for a fresh one', async () => {
    const links: number[] = [];
    const slept: number[] = [];
    const cut = () => Object.assign(new Error('fewer bytes than announced'), { name: 'ByteCountError' });
    const out = await withUrlRenewal(
      2,
      async (renewal) => {
        links.push(renewal);
        if (links.length < 3) throw cut();
        return 'landed';
      },
      log,
      {},
      async (ms) => void slept.push(ms),
    );
    expect(out).toBe('landed');
    expect(links).toEqual([0, 0, 0]);
    expect(slept).toEqual([1000, 2000]);
    let tries = 0;
    await expect(
      withUrlRenewal(
        2,
        async () => {
          tries += 1;
          throw cut();
        },
        log,
        {},
        async () => {},
      ),
    ).rejects.toMatchObject({ name: 'ByteCountError' });
    expect(tries).toBe(3);
  });
});
