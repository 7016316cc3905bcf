import type { ProviderModule } from '../providers/types.ts';
import { sqsHandler } from './frame.ts';

/** A provider fetch function: `run` fans out, `fetch` pages; polls belong to the export poller. */
export function providerFunction(functionName: string, module: ProviderModule | undefined) {
  return sqsHandler({
    functionName,
    modules: module ? { [module.id]: module } : {},
    implemented: Boolean(module),
    process: async (message, ctx, mod) => {
      if (message.type === 'run') return mod.run(message, ctx);
      if (message.type === 'fetch') return mod.fetch(message, ctx);
      throw Object.assign(new Error(`${functionName} does not take ${message.type} messages`), {
        retryable: false,
      });
    },
  });
}
