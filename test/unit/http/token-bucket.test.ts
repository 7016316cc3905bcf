import { afterEach, describe, expect, it } from 'vitest';
import { bucketFor, resetBuckets, TokenBucket } from '../../../shared/http/token-bucket.ts';

function clock(start = 0) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('TokenBucket', () => {
  it('lets a full burst through at once, then paces at the rate', () => {
    const c = clock();
    const bucket = new TokenBucket({ rate: 2, burst: 3 }, c.now);
    // Callers that take without waiting queue up behind one another: 0, 0, 0, then every 500 ms.
    const waits = Array.from({ length: 6 }, () => bucket.take());
    expect(waits).toEqual([0, 0, 0, 500, 1000, 1500]);
  });

  it('n sequential requests at rate r take (n - burst) / r seconds of simulated time', () => {
    const c = clock();
    const bucket = new TokenBucket({ rate: 0.5, burst: 2 }, c.now);
    for (let i = 0; i < 10; i++) c.advance(bucket.take());
    expect(c.now()).toBe(((10 - 2) / 0.5) * 1000);
  });

  it('refills over time up to the burst, never beyond', () => {
    const c = clock();
    const bucket = new TokenBucket({ rate: 1, burst: 2 }, c.now);
    bucket.take();
    bucket.take();
    expect(bucket.peek()).toBe(1000);
    c.advance(60_000);
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([0, 0, 1000]);
  });

  it('peek does not reserve', () => {
    const bucket = new TokenBucket({ rate: 1, burst: 1 }, clock().now);
    expect(bucket.peek()).toBe(0);
    expect(bucket.peek()).toBe(0);
    expect(bucket.take()).toBe(0);
    expect(bucket.peek()).toBe(1000);
  });

  it('setRate changes the pace from now on', () => {
    const c = clock();
    const bucket = new TokenBucket({ rate: 0.1, burst: 1 }, c.now);
    bucket.take();
    expect(bucket.peek()).toBe(10_000);
    bucket.setRate(2);
    expect(bucket.rate).toBe(2);
    expect(bucket.peek()).toBe(500);
    bucket.setRate(0);
    bucket.setRate(Number.NaN);
    expect(bucket.rate).toBe(2);
  });

  it('rejects a rate or burst that cannot pace anything', () => {
    expect(() => new TokenBucket({ rate: 0, burst: 1 })).toThrow(/rate/);
    expect(() => new TokenBucket({ rate: 1, burst: 0 })).toThrow(/burst/);
  });
});

describe('bucketFor', () => {
  afterEach(() => resetBuckets());

  it('keeps one bucket per key across callers (a warm container keeps pacing)', () => {
    const c = clock();
    const a = bucketFor('sp-api:c1:getInvoices', { rate: 1, burst: 1 }, c.now);
    a.take();
    const again = bucketFor('sp-api:c1:getInvoices', { rate: 1, burst: 1 }, c.now);
    expect(again).toBe(a);
    expect(again.take()).toBe(1000);
    const other = bucketFor('sp-api:c2:getInvoices', { rate: 1, burst: 1 }, c.now);
    expect(other.take()).toBe(0);
  });
});
