import { rawPayloadKey } from '../../aws/keys.ts';
import type { JobMessageInput, RunMessage } from '../../jobs/messages.ts';
import type { ProviderContext } from '../types.ts';
import { BRAZIL_MARKETPLACE, getInvoicesAttributes } from './api.ts';
import { fetchOne } from './fetch.ts';
import { checkFilters, invoiceFilters } from './filters.ts';
import { type SpApiConnection, send } from './http.ts';
import { invoicesAttributesResponseSchema } from './schemas.ts';
import { defaultWindow, windowBounds } from './window.ts';

export function marketplacesOf(message: RunMessage, connection: SpApiConnection): string[] {
  if (message.scopes?.length) return message.scopes;
  return connection.scopes === 'discover' ? [BRAZIL_MARKETPLACE] : connection.scopes;
}

/**
 * A run for a connection: per marketplace, getInvoicesAttributes (stored raw) checks the connection's
 * filters, then one fetch message lists the window and another starts its export. Nothing is sent until
 * every marketplace's filters passed, so a bad filter stops the run whole with an error naming it.
 * A run with invoiceId fetches just that invoice.
 */
export async function runConnection(
  message: RunMessage,
  ctx: ProviderContext<SpApiConnection>,
): Promise<void> {
  const conn = ctx.connection;
  const marketplaces = marketplacesOf(message, conn);
  if (message.invoiceId) {
    await fetchOne(message.invoiceId, marketplaces, ctx);
    return;
  }
  const filters = invoiceFilters(conn);
  const now = ctx.now();
  const messages: JobMessageInput[] = [];
  for (const marketplaceId of marketplaces) {
    const res = await send(
      ctx.http,
      getInvoicesAttributes({ marketplaceId }),
      invoicesAttributesResponseSchema,
    );
    await ctx.sink.putJson(
      rawPayloadKey('sp-api', conn.id, marketplaceId, 'invoices-attributes'),
      JSON.parse(res.rawBody) as unknown,
      { sourceOperation: 'getInvoicesAttributes', runId: ctx.runId, fetchedAt: now.toISOString() },
    );
    checkFilters(conn, marketplaceId, filters, res.data);
    const window = message.window ?? (await defaultWindow(conn, marketplaceId, ctx.state, now));
    const bounds = windowBounds(window, now);
    const common = {
      v: 1 as const,
      type: 'fetch' as const,
      runId: message.runId,
      provider: 'sp-api' as const,
      connection: conn.id,
      scope: marketplaceId,
      window,
      continuation: 0,
    };
    messages.push({ ...common, state: { ...bounds } }, { ...common, state: { ...bounds, step: 'export' } });
    ctx.log.info('marketplace queued', { marketplaceId, window });
  }
  await ctx.queue.sendBatch(messages);
}
