/**
 * Reading "expired" out of refusals. Two different things expire: our access token (refresh it and retry
 * once) and a pre-signed download URL (ask the provider for a new URL; retrying the same one cannot work).
 */

/**
 * Default test for a 403 that means "your access token expired": SP-API and Amazon Business answer
 * 403 `{errors: [{code: "Unauthorized", ..., details: "The access token you provided has expired."}]}`.
 */
export function looksLikeExpiredToken(status: number, body: string): boolean {
  if (status === 401) return true;
  if (status !== 403) return false;
  return /token[^"<]{0,40}expired|expired[^"<]{0,20}token|"Unauthorized"|\bUnauthorized\b/i.test(body);
}

/**
 * A pre-signed URL past its expiry: S3 answers 403 AccessDenied "Request has expired" (or ExpiredToken when
 * the signing session ended), GCS 400 ExpiredToken.
 */
export function looksLikeExpiredUrl(status: number, body: string): boolean {
  if (status !== 400 && status !== 403) return false;
  return /Request has expired|<Code>ExpiredToken<\/Code>|"ExpiredToken"|\bExpiredToken\b|signature expired/i.test(
    body,
  );
}
