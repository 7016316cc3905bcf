import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ObjectMeta, ProviderContext, StoredObject } from '../providers/types.ts';
import type { Landed } from './invoice-table.ts';
import type { RawAnswer } from './provider-spec.ts';

/** The metadata a provider's answer is stored with. */
function rawMeta(ctx: ProviderContext, raw: RawAnswer): ObjectMeta {
  return {
    sourceOperation: raw.operation,
    runId: ctx.runId,
    fetchedAt: ctx.now().toISOString(),
    contentType: raw.contentType ?? 'application/json',
  };
}

/** Stores a provider's answer exactly as it came: re-serializing parsed JSON would change its bytes (and round its numbers). */
export function storeRaw(ctx: ProviderContext, key: string, raw: RawAnswer): Promise<StoredObject> {
  return ctx.sink.putStream(key, Readable.from([Buffer.from(raw.body, 'utf8')]), rawMeta(ctx, raw));
}

/**
 * Stores an answer unless the object at its key already holds these bytes (one HEAD instead of a PUT, a
 * version and an event): for pages and discovery answers a rerun over unchanged data asks for again.
 */
export async function storeRawOnce(
  ctx: ProviderContext,
  key: string,
  raw: RawAnswer,
  sameAs?: string,
): Promise<StoredObject> {
  return storeBytesOnce(ctx, key, Buffer.from(raw.body, 'utf8'), {
    ...rawMeta(ctx, raw),
    ...(sameAs ? { sameAs } : {}),
  });
}

/** What the invoice table keeps of a raw object: its key and its bytes' SHA-256, hashed. */
export function rawStamp(key: string, sha256: string): string {
  return createHash('sha256').update(`${key}\n${sha256}`).digest('base64url').slice(0, 22);
}

/**
 * An invoice's raw answer. The table's stamp of what it landed with says whether these bytes are already at
 * this key: then nothing is written or asked for (an open invoice worked again every day, its answer the
 * same). Otherwise it is written, unless, for an invoice that landed before, the object holds these bytes
 * (one HEAD). Returns the stamp to keep in the table.
 */
export async function storeInvoiceRaw(
  ctx: ProviderContext,
  key: string,
  raw: RawAnswer,
  landed: Landed | undefined,
): Promise<string> {
  const body = Buffer.from(raw.body, 'utf8');
  const sha256 = createHash('sha256').update(body).digest('hex');
  const stamp = rawStamp(key, sha256);
  if (landed?.raw === stamp) return stamp;
  if (landed) await storeBytesOnce(ctx, key, body, rawMeta(ctx, raw), sha256);
  else await ctx.sink.putStream(key, Readable.from([body]), rawMeta(ctx, raw));
  return stamp;
}

/**
 * Bytes held in memory, written unless the object at key already holds them; `written` says which, and
 * `thisRun` whether the object is this run's (written now, or by an earlier try of the same run's work).
 * `sha256` is the body's, when the caller has it already.
 */
export async function storeBytesOnce(
  ctx: ProviderContext,
  key: string,
  body: Buffer,
  meta: ObjectMeta,
  sha256 = createHash('sha256').update(body).digest('hex'),
): Promise<StoredObject & { written: boolean; thisRun: boolean }> {
  const held = await ctx.sink.holds?.(key, sha256, meta.sameAs);
  if (held) return { key, sha256, bytes: body.length, written: false, thisRun: held.runId === ctx.runId };
  const stored = await ctx.sink.putStream(key, Readable.from([body]), {
    ...meta,
    expectedBytes: body.length,
  });
  return { ...stored, written: true, thisRun: true };
}

/** Something that is not a provider answer (a value the provider sent that did not fit, with why), as JSON. */
export function storeValue(
  ctx: ProviderContext,
  key: string,
  value: unknown,
  operation: string,
): Promise<StoredObject> {
  return ctx.sink.putJson(key, value, {
    sourceOperation: operation,
    runId: ctx.runId,
    fetchedAt: ctx.now().toISOString(),
  });
}
