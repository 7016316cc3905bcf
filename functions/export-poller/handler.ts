import { dynamoClient } from '../../shared/aws/clients.ts';
import { DynamoStateStore } from '../../shared/aws/state-store.ts';
import { pollExport } from '../../shared/engine/poll-export.ts';
import { EXPORT_SPECS } from '../../shared/providers/registry.ts';
import { functionEnv } from '../../shared/runtime/env.ts';
import { sqsHandler } from '../../shared/runtime/frame.ts';

let state: DynamoStateStore | undefined;

export const handler = sqsHandler({
  functionName: 'export-poller',
  specs: EXPORT_SPECS,
  process: async (message, ctx, spec) => {
    if (message.type !== 'poll') {
      throw Object.assign(new Error(`export-poller takes poll messages, not ${message.type}`), {
        retryable: false,
      });
    }
    state ??= new DynamoStateStore(dynamoClient(), functionEnv().table);
    await pollExport(message, ctx, spec, { state });
  },
});
