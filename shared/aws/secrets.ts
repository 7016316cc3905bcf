import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type * as z from 'zod';

/** A secret that cannot be read or does not fit its schema. Names the secret and fields, never a value. */
export class SecretError extends Error {
  override name = 'SecretError';
  readonly secretName: string;
  /** The fields at fault (dotted paths), when the content was the problem. */
  readonly fields: string[];

  constructor(secretName: string, message: string, fields: string[] = [], cause?: unknown) {
    super(`secret "${secretName}": ${message}`, cause === undefined ? undefined : { cause });
    this.secretName = secretName;
    this.fields = fields;
  }
}

/** Re-read after this long, so a rotated credential is picked up by warm containers. */
export const SECRET_MAX_AGE_MS = 5 * 60_000;

interface Cached {
  value?: unknown;
  fetchedAt: number;
  inflight?: Promise<unknown>;
}

let client: SecretsManagerClient | undefined;
const cache = new Map<string, Cached>();

/** Created on first use; the SDK reads AWS_ENDPOINT_URL_SECRETS_MANAGER itself (the local stack sets it). */
function secretsClient(): SecretsManagerClient {
  client ??= new SecretsManagerClient({});
  return client;
}

export interface GetSecretOptions {
  client?: Pick<SecretsManagerClient, 'send'>;
  now?: () => number;
  maxAgeMs?: number;
}

/** The secret's JSON content, cached per name for a few minutes; concurrent callers share one read. */
export async function getSecretJson(name: string, opts: GetSecretOptions = {}): Promise<unknown> {
  const now = opts.now ?? Date.now;
  const maxAge = opts.maxAgeMs ?? SECRET_MAX_AGE_MS;
  const hit = cache.get(name);
  if (hit && 'value' in hit && now() - hit.fetchedAt < maxAge) return hit.value;
  if (hit?.inflight) return hit.inflight;

  const entry: Cached = hit ?? { fetchedAt: 0 };
  const inflight = readSecret(name, opts.client ?? secretsClient()).then(
    (value) => {
      entry.value = value;
      entry.fetchedAt = now();
      entry.inflight = undefined;
      return value;
    },
    (err: unknown) => {
      entry.inflight = undefined;
      throw err;
    },
  );
  entry.inflight = inflight;
  cache.set(name, entry);
  return inflight;
}

async function readSecret(name: string, sm: Pick<SecretsManagerClient, 'send'>): Promise<unknown> {
  let text: string | undefined;
  try {
    const out = await sm.send(new GetSecretValueCommand({ SecretId: name }));
    text = out.SecretString;
  } catch (err) {
    const code = (err as { name?: string }).name ?? 'Error';
    const reason =
      code === 'ResourceNotFoundException'
        ? 'not found'
        : code === 'AccessDeniedException'
          ? 'access denied'
          : `cannot be read (${code})`;
    throw new SecretError(name, reason, [], err);
  }
  if (text === undefined || text === '')
    throw new SecretError(name, 'has no string value (empty, or binary)');
  try {
    return JSON.parse(text);
  } catch {
    // JSON.parse's own message quotes the text: it is not passed on.
    throw new SecretError(name, 'is not JSON');
  }
}

export function resetSecretCache(): void {
  cache.clear();
  client = undefined;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.length ? issue.path.map(String).join('.') : '(root)';
  const missing = issue.code === 'invalid_type' && /received undefined$/.test(issue.message);
  // Only the issue code and expectation are reported: zod messages for some codes quote the input.
  const what = missing
    ? 'missing'
    : issue.code === 'invalid_type'
      ? `expected ${issue.expected}`
      : issue.code === 'custom'
        ? issue.message
        : issue.code.replace(/_/g, ' ');
  return `field "${field}": ${what}`;
}

/** Validates a secret's content; the error names the secret and each bad field, never a value. */
export function parseSecret<S extends z.ZodType>(schema: S, raw: unknown, secretName: string): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const fields = issues.map((i) => i.path.map(String).join('.') || '(root)');
  throw new SecretError(secretName, `is invalid: ${issues.map(describeIssue).join('; ')}`, fields);
}
