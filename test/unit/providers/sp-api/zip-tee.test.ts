import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { strToU8, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { measure, zipStream } from '../../../../infra/sandbox/sp-api/zip.ts';
import {
  DEFAULT_ZIP_LIMITS,
  unsafeEntryName,
  type ZipEntry,
  type ZipLimits,
  zipTee,
} from '../../../../shared/providers/sp-api/zip-tee.ts';

/** Streams `bytes` through a tee in small chunks; returns what came out, the entries and the summary. */
async function runTee(
  bytes: Uint8Array,
  limits: Partial<ZipLimits> = {},
  chunk = 1000,
  onEntry?: (e: ZipEntry) => Promise<void>,
) {
  const entries: ZipEntry[] = [];
  const tee = zipTee({
    limits: { ...DEFAULT_ZIP_LIMITS, ...limits },
    onEntry:
      onEntry ??
      (async (e) => {
        entries.push(e);
      }),
  });
  const out: Buffer[] = [];
  const parts = Array.from({ length: Math.ceil(bytes.length / chunk) }, (_, i) =>
    Buffer.from(bytes.subarray(i * chunk, (i + 1) * chunk)),
  );
  await pipeline(
    Readable.from(parts),
    tee.stream,
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    }),
  );
  return { copy: Buffer.concat(out), entries, summary: await tee.done };
}

const xml = (i: number) => strToU8(`<?xml version="1.0"?><doc n="${i}">${'conteúdo '.repeat(50)}</doc>`);

describe('zipTee: opening an export ZIP while it streams to S3', () => {
  it('passes the bytes through unchanged and hands out every entry whole', async () => {
    const files = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`nfe/${i}-nfe.xml`, xml(i)]));
    const zip = zipSync(files, { level: 6 });
    const { copy, entries, summary } = await runTee(zip, {}, 333);
    expect(createHash('sha256').update(copy).digest('hex')).toBe(
      createHash('sha256').update(zip).digest('hex'),
    );
    expect(entries.map((e) => e.name).sort()).toEqual(Object.keys(files).sort());
    for (const e of entries) expect(new Uint8Array(e.data)).toEqual(files[e.name]);
    expect(summary).toMatchObject({ entries: 30, extracted: 30 });
    expect(summary.refused).toBeUndefined();
  });

  it('reads streamed archives (data descriptors, no sizes up front) and stored entries', async () => {
    const entries = Array.from({ length: 12 }, (_, i) => ({ name: `a/${i}.xml`, data: () => xml(i) }));
    const chunks: Buffer[] = [];
    for await (const c of zipStream(() => entries[Symbol.iterator]())) chunks.push(c as Buffer);
    const streamed = await runTee(Buffer.concat(chunks), {}, 777);
    expect(streamed.entries.map((e) => e.name)).toEqual(entries.map((e) => e.name));
    const stored = await runTee(zipSync({ 'x.xml': xml(1) }, { level: 0 }));
    expect(stored.entries.map((e) => Buffer.from(e.data).toString())).toEqual([
      Buffer.from(xml(1)).toString(),
    ]);
  });

  it.each([
    ['../../../../etc/passwd.xml', /escapes its folder/],
    ['a/../../b.xml', /escapes its folder/],
    ['..\\..\\win.xml', /escapes its folder/],
    ['/abs/path.xml', /absolute path/],
    ['C:/boot.xml', /absolute path/],
    ['ok\u0000.xml', /control characters/],
  ])('refuses the entry name %j', (name, reason) => {
    expect(unsafeEntryName(name)).toMatch(reason);
  });

  it('accepts ordinary nested names', () => {
    expect(unsafeEntryName('2024/07/35240712345678000190550010000010011123456789-nfe.xml')).toBeUndefined();
    expect(unsafeEntryName('a..b.xml')).toBeUndefined();
  });

  it('refuses an archive at its first unsafe entry name: no entry after it is handed out', async () => {
    const zip = zipSync({ 'a.xml': xml(1), '../../../../escape.xml': xml(2), 'c.xml': xml(3) });
    const { copy, entries, summary } = await runTee(zip);
    expect(summary.refused?.code).toBe('UNSAFE_ENTRY_NAME');
    expect(entries.map((e) => e.name)).toEqual(['a.xml']);
    expect(copy.equals(Buffer.from(zip))).toBe(true);
  });

  it('refuses more entries than the limit', async () => {
    const zip = zipSync(Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`${i}.xml`, xml(i)])));
    const { entries, summary } = await runTee(zip, { maxEntries: 10 });
    expect(summary.refused?.code).toBe('TOO_MANY_ENTRIES');
    expect(entries.length).toBeLessThanOrEqual(10);
  });

  it('refuses an entry past the per-entry limit, and entries past the total limit', async () => {
    const big = await runTee(zipSync({ 'big.xml': new Uint8Array(50_000).fill(65) }), {
      maxEntryBytes: 10_000,
      maxRatio: 1e9,
    });
    expect(big.summary.refused?.code).toBe('ENTRY_TOO_LARGE');
    expect(big.entries).toEqual([]);
    const many = await runTee(
      zipSync(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`${i}.xml`, xml(i)]))),
      {
        maxTotalBytes: 5_000,
      },
    );
    expect(many.summary.refused?.code).toBe('TOO_MANY_BYTES');
  });

  it('refuses a bomb by its inflate ratio before inflating it whole, and keeps memory flat', async () => {
    // 64 MiB of one byte deflates to about 64 KiB: a ratio near 1000.
    const entries = [{ name: 'bomb.xml', data: () => new Uint8Array(64 * 1024 * 1024).fill(32) }];
    const chunks: Buffer[] = [];
    for await (const c of zipStream(() => entries[Symbol.iterator]())) chunks.push(c as Buffer);
    const zip = Buffer.concat(chunks);
    expect(zip.length).toBeLessThan(512 * 1024);
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    const { summary, entries: out } = await runTee(
      zip,
      { maxEntryBytes: 1024 ** 3, maxTotalBytes: 1024 ** 4 },
      64 * 1024,
    );
    expect(summary.refused?.code).toBe('COMPRESSION_RATIO');
    expect(out).toEqual([]);
    expect(summary.inflatedBytes).toBeLessThan(16 * 1024 * 1024);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 * 1024 * 1024);
  });

  it('refuses what is not a ZIP at all, and still passes its bytes through', async () => {
    const junk = Buffer.from('this is not a zip archive, just text'.repeat(100));
    const { copy, summary } = await runTee(junk);
    expect(summary.refused?.code).toBe('CORRUPT_ARCHIVE');
    expect(copy.equals(junk)).toBe(true);
  });

  it('fails the copy when an entry cannot be stored (so the poll is retried), and settles done', async () => {
    const zip = zipSync({ 'a.xml': xml(1), 'b.xml': xml(2) });
    const tee = zipTee({
      limits: DEFAULT_ZIP_LIMITS,
      onEntry: async () => {
        throw new Error('S3 is down');
      },
    });
    const copy = pipeline(
      Readable.from([Buffer.from(zip)]),
      tee.stream,
      new Writable({ write: (_c, _e, cb) => cb() }),
    );
    await expect(copy).rejects.toThrow(/S3 is down/);
    await expect(tee.done).rejects.toThrow(/S3 is down/);
  });

  it('holds the stream while entry writes are in flight (backpressure)', async () => {
    const zip = zipSync(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`${i}.xml`, xml(i)])), {
      level: 0,
    });
    let inFlight = 0;
    let most = 0;
    const { summary } = await runTee(zip, {}, 512, async () => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight -= 1;
    });
    expect(summary.extracted).toBe(40);
    expect(most).toBeLessThanOrEqual(8);
  });

  it('simulator ZIPs measure the same on every pass (Content-Length is exact)', async () => {
    const entries = Array.from({ length: 5 }, (_, i) => ({ name: `${i}.xml`, data: () => xml(i) }));
    const a = await measure(zipStream(() => entries[Symbol.iterator]()));
    const b = await measure(zipStream(() => entries[Symbol.iterator]()));
    expect(a).toBe(b);
  });
});
