import { googleTokenSource } from '../auth/google.ts';
import { lwaTokenSource } from '../auth/lwa.ts';
import type { GoogleSecret, LwaSecret } from '../auth/secret-schemas.ts';
import type { Connection } from '../config/schema.ts';
import { HttpClient, type HttpClientOptions, type OperationSpec } from '../http/client.ts';
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
    operations: scalePlans(client.operations, runtime.ratePlanScale ?? 1),
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

/**
 * The operations with their rates multiplied by `scale`: a sandbox whose clock runs N times real time
 * enforces its plans N times faster, and a client that has not yet seen the provider's rate header (its
 * first request answered by a reset, say) would otherwise wait out a real-time interval, a minute for
 * SP-API's getInvoicesDocument. Bursts are counts, not rates, and stay as they are.
 */
export function scalePlans(
  operations: Record<string, OperationSpec>,
  scale: number,
): Record<string, OperationSpec> {
  if (scale === 1) return operations;
  return Object.fromEntries(
    Object.entries(operations).map(([name, op]) => [name, { ...op, rate: op.rate * scale }]),
  );
}
