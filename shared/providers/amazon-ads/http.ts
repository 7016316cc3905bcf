import { lwaTokenSource } from '../../auth/lwa.ts';
import { type LwaSecret, lwaSecretSchema } from '../../auth/secret-schemas.ts';
import { ConfigError } from '../../config/load.ts';
import type { ConnectionOf } from '../../config/schema.ts';
import { DOWNLOAD_HOSTS } from '../../http/allowlist.ts';
import { HttpClient, type OperationSpec } from '../../http/client.ts';
import type { HttpRuntime, ProviderHttp } from '../types.ts';
import { HEADERS, OP } from './api.ts';

export type AdsConnection = ConnectionOf<'amazon-ads'>;

/** Amazon Ads API hosts per region (NA includes BR, MX and CA). */
export const ADS_HOSTS: Record<AdsConnection['region'], string> = {
  NA: 'https://advertising-api.amazon.com',
  EU: 'https://advertising-api-eu.amazon.com',
  FE: 'https://advertising-api-fe.amazon.com',
};

/**
 * Amazon Ads publishes no per-operation rate: throttling is dynamic, answered with 429 and Retry-After
 * (PROVIDER-NOTES "Throttling is dynamic"). The buckets are a modest seed of our own choosing, 5 requests/s
 * with a burst of 10 per operation, so a burst of details does not hit the 429 wall head first; the
 * 429 + Retry-After handling in the client does the real pacing.
 */
const SEED = { rate: 5, burst: 10 } as const;

export const ADS_OPERATIONS: Record<string, OperationSpec> = {
  [OP.listProfiles]: SEED,
  [OP.listInvoices]: SEED,
  [OP.getInvoice]: SEED,
  // docType is `explode: true` in the model: docType=INVOICE&docType=CREDIT_MEMO.
  [OP.getDocument]: { ...SEED, queryArrays: 'repeat' },
  [OP.createStatement]: SEED,
  [OP.getStatement]: SEED,
};

/** Validates the connection secret (LWA client and refresh token); the error names the missing fields only. */
export function parseAdsSecret(raw: unknown): Record<string, string> {
  const result = lwaSecretSchema.safeParse(raw);
  if (!result.success) {
    const fields = [...new Set(result.error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ');
    throw new ConfigError(`amazon-ads secret: missing or empty field(s): ${fields}`);
  }
  return { ...result.data };
}

export function adsHttp(
  connection: AdsConnection,
  secret: Record<string, string>,
  runtime: HttpRuntime,
): ProviderHttp {
  const lwa = secret as LwaSecret;
  return new HttpClient({
    provider: 'amazon-ads',
    connection: connection.id,
    baseUrl: connection.endpoints?.api ?? ADS_HOSTS[connection.region],
    operations: ADS_OPERATIONS,
    auth: {
      style: 'bearer',
      tokens: lwaTokenSource({
        provider: 'amazon-ads',
        connection: connection.id,
        region: connection.region,
        secret: lwa,
        ...(connection.endpoints?.token ? { tokenUrl: connection.endpoints.token } : {}),
      }),
    },
    defaultHeaders: { [HEADERS.clientId]: lwa.clientId },
    budget: runtime.budget,
    downloadHosts: [...DOWNLOAD_HOSTS['amazon-ads'], ...runtime.extraDownloadHosts],
    allowLoopback: runtime.allowLoopback,
    deferThresholdMs: runtime.deferThresholdMs,
    log: runtime.log,
    onEvent: (e) => runtime.onEvent(e),
  });
}
