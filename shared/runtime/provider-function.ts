import { processMessage } from '../engine/process-message.ts';
import type { ProviderSpec } from '../engine/provider-spec.ts';
import { sqsHandler } from './frame.ts';

/** A provider fetch function: the engine runs the spec's jobs routed to it; polls belong to the export poller. */
export function providerFunction(functionName: string, spec: ProviderSpec | undefined) {
  return sqsHandler({
    functionName,
    specs: spec ? { [spec.id]: spec } : {},
    implemented: Boolean(spec),
    process: processMessage,
  });
}
