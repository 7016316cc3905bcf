import { afterEach, describe, expect, it } from 'vitest';
import { cachedTokenSource, clearTokenCache } from '../../../shared/auth/token-cache.ts';

afterEach(() => clearTokenCache());

function issuer(expiresIn = 3600) {
  let calls = 0;
  let release: () => void = () => undefined;
  let gate: Promise<void> = Promise.resolve();
  return {
    fetch: async () => {
      const n = ++calls;
      await gate;
      return { accessToken: `token-${n}`, expiresIn };
    },
    calls: () => calls,
    hold: () => {
      gate = new Promise<void>((r) => {
        release = r;
      });
    },
    release: () => release(),
  };
}

describe('cachedTokenSource', () => {
  it('shares one refresh among concurrent callers', async () => {
    const i = issuer();
    i.hold();
    const source = cachedTokenSource('conn', i.fetch);
    const pending = Array.from({ length: 10 }, () => source.get());
    i.release();
    const tokens = await Promise.all(pending);
    expect(i.calls()).toBe(1);
    expect(new Set(tokens)).toEqual(new Set(['token-1']));
  });

  it('keeps the token until a minute before expiry, then fetches a new one', async () => {
    let t = 0;
    const i = issuer(3600);
    const source = cachedTokenSource('conn', i.fetch, () => t);
    expect(await source.get()).toBe('token-1');
    t = 3_539_000;
    expect(await source.get()).toBe('token-1');
    t = 3_540_000;
    expect(await source.get()).toBe('token-2');
    expect(i.calls()).toBe(2);
  });

  it('is shared per key across sources (a warm container), separate between keys', async () => {
    const i = issuer();
    await cachedTokenSource('a', i.fetch).get();
    await cachedTokenSource('a', i.fetch).get();
    await cachedTokenSource('b', i.fetch).get();
    expect(i.calls()).toBe(2);
  });

  it('invalidate drops the token only if it is still the cached one', async () => {
    const i = issuer();
    const source = cachedTokenSource('conn', i.fetch);
    const first = await source.get();
    source.invalidate(first);
    const second = await source.get();
    expect(second).toBe('token-2');
    // A late invalidate of the old token (another caller's 401) must not throw the fresh one away.
    source.invalidate(first);
    expect(await source.get()).toBe('token-2');
    expect(i.calls()).toBe(2);
  });

  it('a failed refresh is not cached: the next get() tries again', async () => {
    let calls = 0;
    const source = cachedTokenSource('conn', async () => {
      calls++;
      if (calls === 1) throw new Error('endpoint down');
      return { accessToken: 'ok', expiresIn: 3600 };
    });
    await expect(source.get()).rejects.toThrow('endpoint down');
    expect(await source.get()).toBe('ok');
  });
});
