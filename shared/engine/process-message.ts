import type { JobMessage } from '../jobs/messages.ts';
import type { ProviderContext } from '../providers/types.ts';
import { listingState } from './listing-state.ts';
import type { JobSpec, ProviderSpec } from './provider-spec.ts';
import { reconcileConnection } from './reconcile-connection.ts';
import { runConnection } from './run-connection.ts';
import { runListing } from './run-listing.ts';
import { startExport } from './start-export.ts';

const permanent = (message: string) => Object.assign(new Error(message), { retryable: false });

/** The job a fetch message is for: named in its state, else the first job routed to its function. */
export function jobOf(spec: ProviderSpec, route: string | undefined, name: string | undefined): JobSpec {
  const routed = spec.jobs.filter((j) => j.route === route);
  const job = name ? routed.find((j) => j.name === name) : routed[0];
  if (!job)
    throw permanent(`${spec.id} has no job ${name ?? '(default)'} on ${route ?? 'its main function'}`);
  return job;
}

/** What a provider function does with a message: the engine runs the spec's jobs. */
export async function processMessage(
  message: JobMessage,
  ctx: ProviderContext,
  spec: ProviderSpec,
): Promise<void> {
  if (message.type === 'run') return runConnection(spec, message, ctx);
  if (message.type === 'reconcile') return reconcileConnection(spec, message, ctx);
  if (message.type === 'fetch') {
    const job = jobOf(spec, message.job, listingState(message.state).job);
    return job.kind === 'listing' ? runListing(message, job, ctx) : startExport(message, job, ctx);
  }
  throw permanent(`a provider function does not take ${message.type} messages`);
}
