import { Readable } from 'node:stream';
import type { ProviderContext, StoredObject } from '../providers/types.ts';
import type { RawAnswer } from './provider-spec.ts';

/** Stores a provider's answer exactly as it came: re-serializing parsed JSON would change its bytes (and round its numbers). */
export function storeRaw(ctx: ProviderContext, key: string, raw: RawAnswer): Promise<StoredObject> {
  return ctx.sink.putStream(key, Readable.from([Buffer.from(raw.body, 'utf8')]), {
    sourceOperation: raw.operation,
    runId: ctx.runId,
    fetchedAt: ctx.now().toISOString(),
    contentType: raw.contentType ?? 'application/json',
  });
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
