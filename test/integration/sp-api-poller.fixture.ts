import { dynamoClient } from '../../shared/aws/clients.ts';
import { DynamoStateStore } from '../../shared/aws/state-store.ts';
import { spApiModule } from '../../shared/providers/sp-api/index.ts';
import type { ProviderModule } from '../../shared/providers/types.ts';
import { functionEnv } from '../../shared/runtime/env.ts';
import { sqsHandler } from '../../shared/runtime/frame.ts';
import { pollExport } from '../../shared/runtime/poller.ts';

/**
 * The export poller with the SP-API module, for the integration tests and the benchmark until the
 * registry lists it (functions/export-poller/handler.ts takes its modules from shared/providers/registry.ts).
 */
let state: DynamoStateStore | undefined;

export const handler = sqsHandler({
  functionName: 'export-poller',
  modules: { 'sp-api': spApiModule as ProviderModule },
  process: async (message, ctx, module) => {
    if (message.type !== 'poll') {
      throw Object.assign(new Error(`export-poller takes poll messages, not ${message.type}`), {
        retryable: false,
      });
    }
    state ??= new DynamoStateStore(dynamoClient(), functionEnv().table);
    await pollExport(message, ctx, module, { state });
  },
});
