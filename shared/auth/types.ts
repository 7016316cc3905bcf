/** Hands out access tokens for one connection; the HTTP client calls invalidate() when one is refused. */
export interface TokenSource {
  get(): Promise<string>;
  /** Drops this token if it is still the cached one, so the next get() fetches a fresh one. */
  invalidate(token: string): void;
}

/** What a token endpoint answered. */
export interface IssuedToken {
  accessToken: string;
  /** Lifetime in seconds, from the answer's expires_in. */
  expiresIn: number;
}
