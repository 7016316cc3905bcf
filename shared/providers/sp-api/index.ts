import { lwaSecretSchema } from '../../auth/secret-schemas.ts';
import type { FetchMessage } from '../../jobs/messages.ts';
import type { ProviderContext, ProviderModule } from '../types.ts';
import { checkExport, openDocument, startExport } from './exports.ts';
import { fetchListing } from './fetch.ts';
import { type SpApiConnection, spApiHttp } from './http.ts';
import { runConnection } from './run.ts';

/** A secret that cannot be used: the error names the field, never its value. */
export class SecretError extends Error {
  override name = 'SecretError';
  readonly retryable = false;
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
  run: runConnection,
  fetch(message: FetchMessage, ctx: ProviderContext<SpApiConnection>) {
    return message.state?.step === 'export' ? startExport(message, ctx) : fetchListing(message, ctx);
  },
  exports: { check: checkExport, open: openDocument },
};

export default spApiModule;
