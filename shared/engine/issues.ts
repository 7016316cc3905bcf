import type * as z from 'zod';

/** zod issues as "path: message" for problems and errors; values are never quoted. */
export function describeIssues(error: z.ZodError, limit = 8): string {
  return error.issues
    .slice(0, limit)
    .map((i) => `${i.path.length ? i.path.join('.') : '(item)'}: ${i.message}`)
    .join('; ');
}
