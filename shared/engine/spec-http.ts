import { googleTokenSource } from '../auth/google.ts';
import { lwaTokenSource } from '../auth/lwa.ts';
import type { GoogleSecret, LwaSecret } from '../auth/secret-schemas.ts';
import type { Connection } from '../config/schema.ts';
import { HttpClient, type HttpClientOptions } from '../http/client.ts';
import type { HttpRuntime, ProviderHttp } from '../providers/types.ts';
import type { ClientSpec } from './provider-spec.ts';

/**
 * The HTTP client a spec describes, for one connection and one message: base URL (the connection's
 * `endpoints.api` wins), auth style and token source, fixed headers, rate buckets per operation (each
 * container's share of the burst; the shared plan for operations marked so), and the download allowlist
 * (the spec's hosts, the connection's `endpoints.downloadHosts`, the environment's).
 */
export function specHttp<C extends Connection>(
  provider: string,
  client: ClientSpec<C>,
  connection: C,
  secret: Record<string, string>,
  runtime: HttpRuntime,
  overrides: Partial<HttpClientOptions> = {},
): ProviderHttp {
  const tokenUrl = connection.endpoints?.token;
  const common = { provider, connection: connection.id, ...(tokenUrl ? { tokenUrl } : {}) };
  const tokens =
    client.auth === 'google'
      ? googleTokenSource({ ...common, secret: secret as unknown as GoogleSecret })
      : lwaTokenSource({
          ...common,
          region: client.lwaRegion?.(connection) ?? 'NA',
          secret: secret as LwaSecret,
        });
  return new HttpClient({
    provider,
    connection: connection.id,
    baseUrl: connection.endpoints?.api ?? client.baseUrl(connection),
    operations: client.operations,
    auth: { style: client.auth === 'lwa-x-amz-access-token' ? 'x-amz-access-token' : 'bearer', tokens },
    ...(client.headers ? { defaultHeaders: client.headers(connection, secret) } : {}),
    ...(client.isExpiredTokenError ? { isExpiredTokenError: client.isExpiredTokenError } : {}),
    ...(client.isThrottleError ? { isThrottleError: client.isThrottleError } : {}),
    budget: runtime.budget,
    downloadHosts: [...client.downloadHosts, ...runtime.extraDownloadHosts],
    allowLoopback: runtime.allowLoopback,
    deferThresholdMs: runtime.deferThresholdMs,
    ...(runtime.sharedRate ? { sharedRate: runtime.sharedRate } : {}),
    ...(runtime.containers ? { containers: runtime.containers } : {}),
    log: runtime.log,
    onEvent: (e) => runtime.onEvent(e),
    ...overrides,
  });
}
