import { createHash, randomBytes } from 'node:crypto';

/**
 * Opaque access tokens for the token servers, expiring in REAL time: clients cache a token by their own
 * clock for the `expires_in` the server sent, so server and client must count the same seconds.
 *
 * A token is derived from what it grants and how many tokens that grant got before, not drawn at
 * random, so a replayed run is answered with the same bytes; the grant holds the seeded client id, so
 * another seed gives other tokens. Nothing outside 127.0.0.1 ever sees them.
 */

export type TokenCheck<I> =
  | { ok: true; info: I; expiresAt: number }
  | { ok: false; reason: 'missing' | 'unknown' | 'expired' };

interface Entry<I> {
  info: I;
  expiresAt: number;
}

const PRUNE_ABOVE = 10_000;

export class TokenStore<I> {
  private readonly tokens = new Map<string, Entry<I>>();
  private readonly issuedPerGrant = new Map<string, number>();

  constructor(
    private readonly prefix: string,
    private readonly now: () => number = Date.now,
  ) {}

  issue(info: I, ttlSeconds: number): string {
    if (this.tokens.size > PRUNE_ABOVE) this.prune();
    const token = `${this.prefix}${this.tokenBytes(info).toString('base64url')}`;
    this.tokens.set(token, { info, expiresAt: this.now() + ttlSeconds * 1000 });
    return token;
  }

  private tokenBytes(info: I): Buffer {
    let grant: string | undefined;
    try {
      grant = JSON.stringify(info);
    } catch {
      grant = undefined;
    }
    if (grant === undefined) return randomBytes(48);
    const n = (this.issuedPerGrant.get(grant) ?? 0) + 1;
    this.issuedPerGrant.set(grant, n);
    return createHash('sha512').update(`${this.prefix}\u241f${grant}\u241f${n}`).digest().subarray(0, 48);
  }

  check(token: string | undefined): TokenCheck<I> {
    if (!token) return { ok: false, reason: 'missing' };
    const entry = this.tokens.get(token);
    if (!entry) return { ok: false, reason: 'unknown' };
    if (this.now() >= entry.expiresAt) return { ok: false, reason: 'expired' };
    return { ok: true, info: entry.info, expiresAt: entry.expiresAt };
  }

  /** Ends every token issued so far (a client's next call gets 401 and must refresh). */
  expireAll(): number {
    const at = this.now();
    let n = 0;
    for (const entry of this.tokens.values()) {
      if (entry.expiresAt > at) n++;
      entry.expiresAt = Math.min(entry.expiresAt, at);
    }
    return n;
  }

  private prune(): void {
    // Tokens long past expiry answer "unknown" instead of "expired" after this; both are rejected.
    const horizon = this.now() - 3_600_000;
    for (const [token, entry] of this.tokens) if (entry.expiresAt < horizon) this.tokens.delete(token);
  }
}
