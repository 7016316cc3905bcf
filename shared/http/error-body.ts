import { STATUS_CODES } from 'node:http';

export interface ParsedProviderError {
  code: string;
  message: string;
  details?: string;
}

/** Reads a provider's error answer; undefined when the body is not one of the shapes a provider uses. */
export type ErrorParser = (body: string, status: number) => ParsedProviderError | undefined;

function text(value: unknown): string | undefined {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number') return String(value);
  if (value && typeof value === 'object') return JSON.stringify(value);
  return undefined;
}

/**
 * The error shapes of the providers we call:
 * - SP-API / Amazon Business: `{errors: [{code, message, details}]}`
 * - Amazon Ads: `{code, details}` or `{code, message}` (sometimes wrapped, sometimes with `description`)
 * - Google: `{error: {code, message, status}}` (status is the symbolic code, code the HTTP number)
 * - OAuth-style: `{error, error_description}`
 * - S3 / GCS download hosts: `<Error><Code>..</Code><Message>..</Message></Error>`
 */
export const parseProviderErrorBody: ErrorParser = (body) => {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return parseXmlError(body);
  }
  if (!json || typeof json !== 'object') return undefined;
  const o = json as Record<string, unknown>;

  if (Array.isArray(o.errors) && o.errors.length > 0) {
    const first = o.errors[0] as Record<string, unknown>;
    const code = text(first?.code);
    const message = text(first?.message) ?? text(first?.details);
    if (code || message) {
      const details = text(first?.details);
      const more = o.errors.length > 1 ? ` (+${o.errors.length - 1} more)` : '';
      return {
        code: code ?? 'Error',
        message: `${message ?? code}${more}`,
        ...(details && details !== message ? { details } : {}),
      };
    }
  }

  if (o.error && typeof o.error === 'object') {
    const g = o.error as Record<string, unknown>;
    const code = text(g.status) ?? text(g.code);
    const message = text(g.message);
    if (code || message) return { code: code ?? 'Error', message: message ?? code ?? '' };
  }

  if (typeof o.error === 'string') {
    return { code: o.error, message: text(o.error_description) ?? o.error };
  }

  const code = text(o.code);
  const message = text(o.message) ?? text(o.details) ?? text(o.description);
  if (code || message) {
    const details = text(o.details);
    return {
      code: code ?? 'Error',
      message: message ?? code ?? '',
      ...(details && details !== message ? { details } : {}),
    };
  }
  return undefined;
};

export function statusText(status: number): string {
  return STATUS_CODES[status] ?? `HTTP ${status}`;
}

function parseXmlError(body: string): ParsedProviderError | undefined {
  const code = /<Code>([^<]{1,200})<\/Code>/.exec(body)?.[1];
  if (!code) return undefined;
  const message = /<Message>([^<]{0,1000})<\/Message>/.exec(body)?.[1];
  return { code, message: message || code };
}
