import type { ErrorBuilder, FrameworkErrorKind, SimErrorInput } from './http.ts';

/**
 * Error shapes of the providers, ready for `createSimServer({ errorBody })`. The framework's own
 * errors (unknown route, throttling, injected 5xx) come with Amazon-style default codes below and a
 * `kind`, so a builder can swap in its provider's codes.
 */

export const FRAMEWORK_ERRORS: Record<FrameworkErrorKind, { status: number; code: string; message: string }> =
  {
    not_found: { status: 404, code: 'NotFound', message: 'The requested resource was not found.' },
    method_not_allowed: {
      status: 405,
      code: 'MethodNotAllowed',
      message: 'The method is not allowed on this resource.',
    },
    bad_request: { status: 400, code: 'InvalidInput', message: 'The request is malformed.' },
    payload_too_large: {
      status: 413,
      code: 'RequestEntityTooLarge',
      message: 'The request body is too large.',
    },
    throttled: {
      status: 429,
      code: 'QuotaExceeded',
      message: 'You exceeded your quota for the requested resource.',
    },
    server_error: {
      status: 500,
      code: 'InternalFailure',
      message: 'We encountered an internal error. Please try again.',
    },
    unavailable: {
      status: 503,
      code: 'ServiceUnavailable',
      message: 'Service temporarily unavailable. Please try again.',
    },
    handler_failed: {
      status: 500,
      code: 'InternalFailure',
      message: 'We encountered an internal error. Please try again.',
    },
  };

export function frameworkError(kind: FrameworkErrorKind, message?: string, status?: number): SimErrorInput {
  const d = FRAMEWORK_ERRORS[kind];
  return { status: status ?? d.status, code: d.code, message: message ?? d.message, kind };
}

const jsonBody = (value: unknown, contentType = 'application/json') => ({
  body: JSON.stringify(value),
  contentType,
});

/** SP-API and Amazon Business: `{errors: [{code, message, details?}]}`. */
export const amazonErrorList: ErrorBuilder = (e) =>
  jsonBody({ errors: [{ code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) }] });

/** Amazon Ads: `{code, details}` (the billing model's AdPaymentsError / BillingStatementErrorResponse). */
export const amazonAdsError: ErrorBuilder = (e) =>
  jsonBody({ code: e.kind === 'throttled' ? 'THROTTLED' : e.code, details: e.details ?? e.message });

const GOOGLE_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'ALREADY_EXISTS',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

/**
 * What googleapis.com answers for the framework's own errors: `errors[].reason`, and the message where
 * the framework's default is Amazon's wording (routing errors keep the framework's specific message).
 */
const GOOGLE_FRAMEWORK: Record<FrameworkErrorKind, { reason: string; message?: string }> = {
  not_found: { reason: 'notFound' },
  method_not_allowed: { reason: 'httpMethodNotAllowed' },
  bad_request: { reason: 'badRequest' },
  payload_too_large: { reason: 'uploadTooLarge' },
  throttled: { reason: 'rateLimitExceeded', message: 'Rate Limit Exceeded' },
  server_error: { reason: 'backendError', message: 'Backend Error' },
  unavailable: { reason: 'backendError', message: 'The service is currently unavailable.' },
  handler_failed: { reason: 'backendError', message: 'Internal error encountered.' },
};

/** Reasons whose `status` is not the usual one of their HTTP code. */
const GOOGLE_REASON_STATUS: Record<string, string> = { failedPrecondition: 'FAILED_PRECONDITION' };
/** Quota reasons come from the usage-limits domain, everything else from `global`. */
const USAGE_LIMITS = new Set([
  'rateLimitExceeded',
  'userRateLimitExceeded',
  'dailyLimitExceeded',
  'quotaExceeded',
]);

/**
 * Google APIs: `{error: {code, message, errors: [{message, domain, reason}], status}}`. A provider error's
 * `code` is the reason and its `details`, when given, the shorter `errors[].message` Google sends beside
 * the long top-level one ("Invalid Credentials" under "Request had invalid authentication credentials...").
 */
export const googleApiError: ErrorBuilder = (e) => {
  const framework = e.kind ? GOOGLE_FRAMEWORK[e.kind] : undefined;
  const reason = framework?.reason ?? e.code;
  const message = framework?.message ?? e.message;
  const short = e.kind ? message : (e.details ?? message);
  return jsonBody({
    error: {
      code: e.status,
      message,
      errors: [
        {
          message: short,
          domain: USAGE_LIMITS.has(reason) ? 'usageLimits' : 'global',
          reason,
        },
      ],
      status: GOOGLE_REASON_STATUS[reason] ?? GOOGLE_STATUS[e.status] ?? 'UNKNOWN',
    },
  });
};

/** OAuth 2.0 token endpoints (RFC 6749 5.2): `{error, error_description}`. */
export const oauthError: ErrorBuilder = (e) => {
  const code =
    e.kind === 'throttled' || e.kind === 'unavailable'
      ? 'temporarily_unavailable'
      : e.kind === 'server_error' || e.kind === 'handler_failed'
        ? 'server_error'
        : e.kind
          ? 'invalid_request'
          : e.code;
  return jsonBody({ error: code, error_description: e.message });
};

const xmlEscape = (s: string) =>
  s.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );

/** S3: `<Error><Code/><Message/>...</Error>` with any extra elements given. */
export function s3XmlError(code: string, message: string, extra: Record<string, string> = {}): string {
  const more = Object.entries(extra)
    .map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message>${more}</Error>`;
}

export const s3Error: ErrorBuilder = (e) => {
  const code =
    e.kind === 'throttled'
      ? 'SlowDown'
      : e.kind === 'unavailable'
        ? 'ServiceUnavailable'
        : e.kind === 'server_error' || e.kind === 'handler_failed'
          ? 'InternalError'
          : e.kind === 'not_found'
            ? 'NoSuchKey'
            : e.code;
  return { body: s3XmlError(code, e.message), contentType: 'application/xml' };
};
