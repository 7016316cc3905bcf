/**
 * Google answers a spent quota with 403 and reason rateLimitExceeded, userRateLimitExceeded or
 * quotaExceeded as often as with 429. The client treats such an answer as a throttle (paced, retried,
 * handed back to the queue like a 429): this tells it which 403s they are, from Google's error body
 * (`error.errors[].reason`, or the message Google pairs with it).
 */
const QUOTA_REASON = /"reason"\s*:\s*"(rateLimitExceeded|userRateLimitExceeded|quotaExceeded)"/;
const QUOTA_TEXT = /rate ?limit ?exceeded|quota ?exceeded/i;

export function isQuotaError(status: number, body: string): boolean {
  return status === 403 && (QUOTA_REASON.test(body) || QUOTA_TEXT.test(body));
}
