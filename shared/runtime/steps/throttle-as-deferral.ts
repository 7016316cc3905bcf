import { isThrottled } from '../../engine/hand-over.ts';
import { DeferError } from '../../http/errors.ts';
import type { ProviderHttp } from '../../providers/types.ts';

/**
 * A throttle that outlasted the HTTP client's retries is a wait, whichever step met it (the failure policy).
 * A listing hands the rest of its page back itself (handOver); the other steps (a run's scope discovery, an
 * export's create, a poll, a connection's control totals) hand their message back whole, to run again from
 * its start once the operation's pace allows: each may run again (a run sends nothing until every scope is
 * prepared, a poll copies only what it has not, an export is found before it is created). Failing the
 * receive instead would spend one of the message's receives on every throttle, and end the run FAILED after
 * maxReceiveCount of them. Anything else is returned as it is.
 */
export function throttleAsDeferral(err: unknown, http: Pick<ProviderHttp, 'rate'>): unknown {
  if (!isThrottled(err)) return err;
  const operation = (err as { operation?: string }).operation ?? 'request';
  // The operation's pace (one request's worth of its rate), at least a second, as a listing waits.
  const rate = http.rate?.(operation);
  const waitMs = Math.max(1_000, rate ? 1_000 / rate : 0);
  return new DeferError(operation, new Date(Date.now() + waitMs), 'throttled');
}
