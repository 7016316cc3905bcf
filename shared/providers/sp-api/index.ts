import { lwaSecretSchema } from '../../auth/secret-schemas.ts';
import type { FetchMessage } from '../../jobs/messages.ts';
import type { ProviderContext, ProviderModule } from '../types.ts';
import { checkExport, openDocument, startExport } from './exports.ts';
import { fetchListing } from './fetch.ts';
import { isThrottled, type SpApiConnection, spApiHttp, throttledDefer } from './http.ts';
import { runConnection } from './run.ts';

/** A secret that cannot be used: the error names the field, never its value. */
export class SecretError extends Error {
  override name = 'SecretError';
  readonly retryable = false;
}

/**
 * Runs a step whose message can simply be sent again: a 429 that outlasted the client's retries goes
 * back to the queue (DeferError) instead of failing the message into the DLQ.
 */
async function againWhenThrottled<T>(
  ctx: ProviderContext<SpApiConnection>,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isThrottled(err)) throw throttledDefer(err, ctx.now());
    throw err;
  }
}

/** SP-API Invoices 2024-06-19 (Brazil): attributes, invoice listings, exports of XML invoices. */
export const spApiModule: ProviderModule<SpApiConnection> = {
  id: 'sp-api',
  parseSecret(raw) {
    const parsed = lwaSecretSchema.safeParse(raw);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => i.path.join('.') || '(secret)').join(', ');
      throw new SecretError(
        `sp-api secret: missing or invalid field(s) ${fields} (expected clientId, clientSecret, refreshToken)`,
      );
    }
    return parsed.data;
  },
  http: spApiHttp,
  run: (message, ctx) => againWhenThrottled(ctx, () => runConnection(message, ctx)),
  fetch(message: FetchMessage, ctx: ProviderContext<SpApiConnection>) {
    // The listing defers with its cursor itself; the export step is sent again whole.
    return message.state?.step === 'export'
      ? againWhenThrottled(ctx, () => startExport(message, ctx))
      : fetchListing(message, ctx);
  },
  exports: {
    check: (message, ctx) => againWhenThrottled(ctx, () => checkExport(message, ctx)),
    open: (message, documentId, ctx) => againWhenThrottled(ctx, () => openDocument(message, documentId, ctx)),
  },
};

export default spApiModule;
