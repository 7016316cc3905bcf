import type { QueueFedFunction } from '../../shared/aws/resources.ts';
import { type Config, type ProviderSettings, providerSettings } from '../../shared/config/schema.ts';

/**
 * The export poller serves every provider, so it has no provider settings of its own.
 * Two instances are enough: each poll is one status call; a copy streams one report or ZIP, which takes
 * minutes for the largest exports, hence the long timeout; the memory buys CPU for hashing and multipart
 * buffers (parts are held while uploading).
 */
export const POLLER_SETTINGS: ProviderSettings = {
  maxConcurrency: 2,
  maxReceiveCount: 5,
  timeoutSeconds: 600,
  memoryMb: 1024,
};

/**
 * runs-api answers API Gateway, which gives up on an integration after 29 s; it only validates, enqueues
 * and reads a run record, so a short timeout and little memory suffice.
 */
export const RUNS_API_SETTINGS = { timeoutSeconds: 15, memoryMb: 256 } as const;

/**
 * The run reconciler reads the DLQs and a handful of run records every quarter hour: a pass takes seconds.
 * Its schedule's period is also how long a run whose last message died in a DLQ may show RUNNING.
 */
export const RECONCILER_SETTINGS = { timeoutSeconds: 120, memoryMb: 256, everyMinutes: 15 } as const;

/** Concurrency, redrive count, timeout and memory for a queue-fed function. */
export function settingsFor(config: Config, fn: QueueFedFunction): ProviderSettings {
  return fn.provider === 'all' ? POLLER_SETTINGS : providerSettings(config, fn.provider);
}
