import { numberEnv } from '../runtime/env.ts';

/**
 * PENDING_DOCUMENT_MAX_AGE_DAYS (default 30): how long, from its first miss, a document that could not be
 * landed is tried again by later runs before it is given up. Past a month a link that keeps failing is
 * no longer a passing fault, and someone has to look at it.
 */
export function pendingDocumentMaxAgeDays(env: NodeJS.ProcessEnv = process.env): number {
  return numberEnv('PENDING_DOCUMENT_MAX_AGE_DAYS', 30, env);
}
