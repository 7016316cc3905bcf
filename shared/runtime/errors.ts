import { redactText } from '../log/redact.ts';

/**
 * How the frame classifies what a provider throws. Duck-typed on purpose: errors cross module copies
 * (and worker threads locally), where instanceof would miss them.
 */

export interface DeferLike extends Error {
  retryAt: Date;
  reason: string;
  continuation?: unknown;
}

export function isDefer(
  err: unknown,
): err is DeferLike & { continuation?: import('../jobs/messages.ts').JobMessageInput } {
  return (err as Error)?.name === 'DeferError' && (err as DeferLike).retryAt instanceof Date;
}

/** Names of errors that no retry can fix: the message goes to the DLQ at once with its reason. */
const PERMANENT = new Set([
  'AuthError',
  'ConfigError',
  'InvalidMessageError',
  'PayloadError',
  'DownloadRefusedError',
  'ZodError',
  'MoneyError',
  'SecretError',
]);

export function isPermanent(err: unknown): boolean {
  const e = err as {
    name?: string;
    retryable?: boolean;
    transient?: boolean;
    status?: number;
    throttled?: boolean;
  };
  // A token endpoint that was down (not one that refused) may answer on redelivery.
  if (e?.transient === true) return false;
  // The provider's answer decides: 5xx, no answer at all and 429 may pass on redelivery; another 4xx won't.
  if (e?.name === 'ProviderError' && typeof e.status === 'number') {
    return !(e.status === 0 || e.status === 429 || e.throttled === true || e.status >= 500);
  }
  if (e?.retryable === false) return true;
  return PERMANENT.has(e?.name ?? '');
}

/** One line for a DLQ reason, a run failure or a log: the error's kind and message, redacted. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return redactText(`${err.name}: ${err.message}`).slice(0, 2000);
  return redactText(String(err)).slice(0, 2000);
}
