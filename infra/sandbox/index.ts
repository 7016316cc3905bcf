/**
 * The provider sandbox: token servers (LWA, Google OAuth) plus one HTTP simulator per provider, on
 * 127.0.0.1 free ports, with seeded data, a shared simulated clock and fault injection.
 *
 *   const sandbox = await startSandbox({ seed: 7, timeScale: 60, clock: '2026-03-01T00:00:00Z',
 *                                        connections: config.connections,
 *                                        simulators: [amazonAdsSimulator, spApiSimulator] });
 *   sandbox.endpoints['amazon-ads'];   // http://127.0.0.1:41234
 *   sandbox.credentials['ads-main'];   // {clientId, clientSecret, refreshToken}: the connection's secret
 *   await sandbox.close();
 *
 * Adding a simulator (in infra/sandbox/<provider>/index.ts; everything below is exported from here):
 *
 *   import { amazonErrorList, createRng, createSimServer, fail, json, type SimulatorFactory } from '../index.ts';
 *
 *   export const spApiSimulator: SimulatorFactory = {
 *     name: 'sp-api',
 *     provider: 'sp-api',                   // receives the sp-api connections and their grants
 *     async start(ctx) {
 *       const rng = createRng(`${ctx.seed}/sp-api`);            // data fixed by seed and ctx.size
 *       const end = ctx.clock.simNow();        // date the data here: the sandbox's start, on every run
 *       return createSimServer({
 *         ...ctx.server,                      // name, shared clock, seed, faults, log
 *         errorBody: amazonErrorList,
 *         rateLimitHeaders: { limit: true, retryAfter: false },
 *         downloads: { open: (key) => documents.get(key) },      // served at /__download/<id>
 *         routes: [{
 *           method: 'GET', path: '/tax/invoices/2024-06-19/invoices/:invoiceId', operation: 'getInvoice',
 *           rateLimit: { rate: 2, burst: 15 },
 *           handler: (req, sim) => {
 *             const grant = ctx.lwa.verify(req.header('x-amz-access-token'));
 *             if (!grant) return fail(403, 'Unauthorized', 'Access to requested resource is denied.');
 *             // grant.subject is the connection id: serve that connection's seller
 *             return json(200, { invoice: ... });
 *           },
 *         }],
 *       });
 *     },
 *   };
 *
 * Reproducible runs: one seed and one `clock` give the same data, ids, URLs, faults and answers. For
 * that a simulator dates its data from `ctx.clock.simNow()` read in `start` (the sandbox holds its
 * clock at the start instant until every simulator is up), never from Date.now(); mints ids with
 * `StableIds` (or `createRng`) keyed by what they are for, never randomUUID(); and lets the framework
 * sign its download URLs. Faults hang on the request identity (`requestIdentity`, `req.identity`).
 *
 * Credentials: every connection gets a secret minted from the seed whether or not its simulator is
 * running. LWA providers share one app (client) per provider with a refresh token per connection, so
 * a client that caches tokens by client id instead of by connection is caught. CM360 connections get a
 * service account key (default) or an OAuth client + refresh token (`googleAuth`).
 */

import type { ProviderId } from '../../shared/config/schema.ts';
import { createSimClock, parseSimTime, type SimClock } from './framework/clock.ts';
import { type FaultConfigInput, parseFaultConfig } from './framework/faults.ts';
import { createRng, type Seed } from './framework/seed.ts';
import type { SimRequestBase, SimServerOptions } from './framework/server.ts';
import type { SimStats } from './framework/stats.ts';
import {
  createGoogleOAuthServer,
  DFATRAFFICKING_SCOPE,
  type ExpiresInStyle,
  type GoogleOAuthServer,
  newServiceAccount,
  type ServiceAccountKey,
} from './google-oauth.ts';
import { createLwaServer, type LwaServer } from './lwa.ts';

export { createSimClock, parseSimTime, type SimClock } from './framework/clock.ts';
export * from './framework/errors.ts';
export {
  type FaultConfig,
  type FaultConfigInput,
  FaultInjector,
  type FaultKind,
  parseFaultConfig,
} from './framework/faults.ts';
export * from './framework/http.ts';
export { type RateLimit, type RateLimitHeaderPolicy, rateLimitHeaderValue } from './framework/rate-limit.ts';
export { type IdentityInput, requestIdentity, VOLATILE_PARAMS } from './framework/request-identity.ts';
export { createRng, formatMinorUnits, hash32, hashUnit, Rng, type Seed } from './framework/seed.ts';
export {
  type AdminRouteDef,
  createSimServer,
  type RouteDef,
  type SimContext,
  type SimRequestBase,
  type SimServer,
  type SimServerOptions,
} from './framework/server.ts';
export { type DownloadSource, generatedStream, type OpenDownload } from './framework/signed-url.ts';
export { StableIds } from './framework/stable-ids.ts';
export type { OperationStats, SimStats } from './framework/stats.ts';
export type { TokenCheck } from './framework/tokens.ts';
export {
  createGoogleOAuthServer,
  DFATRAFFICKING_SCOPE,
  type GoogleOAuthServer,
  type GoogleTokenInfo,
  JWT_BEARER_GRANT,
  newServiceAccount,
  type ServiceAccountKey,
  signJwtRs256,
} from './google-oauth.ts';
export { createLwaServer, type LwaServer, type LwaTokenInfo } from './lwa.ts';

/** How each provider authenticates. */
export const PROVIDER_AUTH: Record<ProviderId, 'lwa' | 'google'> = {
  'amazon-ads': 'lwa',
  'amazon-business': 'lwa',
  'sp-api': 'lwa',
  cm360: 'google',
};

/** The part of a config connection the sandbox needs (a `Connection` fits). */
export interface SandboxConnectionInput {
  id: string;
  provider: ProviderId;
  /** CM360: the user profile the connection's calls name (the config's profileId); the simulator serves it. */
  profileId?: string;
  /** The config's region (NA, EU, FE, global): simulators serving several regions from one URL read it. */
  region?: string;
}

export type LwaSecret = { clientId: string; clientSecret: string; refreshToken: string };
export type GoogleRefreshSecret = { clientId: string; clientSecret: string; refreshToken: string };
export type GoogleServiceAccountSecret = {
  serviceAccount: Pick<ServiceAccountKey, 'client_email' | 'private_key' | 'token_uri'> &
    Partial<ServiceAccountKey>;
};
export type ConnectionSecret = LwaSecret | GoogleRefreshSecret | GoogleServiceAccountSecret;

/** A connection with its minted secret; the token servers' verify(token).subject is its id. */
export interface SandboxConnection extends SandboxConnectionInput {
  secret: ConnectionSecret;
}

/** What a simulator gets when it starts. */
export interface SimulatorContext {
  name: string;
  seed: Seed;
  timeScale: number;
  /** One clock for the whole sandbox: advancing it (POST /__sandbox/clock) moves every simulator. */
  clock: SimClock;
  /** Scale of the generated data; each simulator says what it multiplies (1: its default small set). */
  size: number;
  /** Simulator-specific settings from startSandbox({ options: { [name]: {...} } }). */
  options: Record<string, unknown>;
  /** This simulator's fault config (already validated), if any. */
  faults: FaultConfigInput | undefined;
  lwa: LwaServer;
  google: GoogleOAuthServer;
  /** Connections of this simulator's provider, with the secrets minted for them. */
  connections: SandboxConnection[];
  /**
   * Spread into createSimServer: name, the shared clock, seed, faults, log, and an identityKey naming
   * the caller's connection (the subject of the LWA or Google token it sends), so two connections
   * asking the same path are two requests to fault injection.
   */
  server: Pick<SimServerOptions, 'name' | 'clock' | 'seed' | 'faults' | 'log' | 'identityKey'>;
  log: (line: string) => void;
}

export interface StartedSimulator {
  url: string;
  stats(): SimStats;
  close(): Promise<void>;
}

export interface SimulatorFactory {
  /** Key in `endpoints` and `stats()`; also the fault config key. */
  name: string;
  /** Connections of this provider are handed to it (a simulator may serve none, e.g. a test double). */
  provider?: ProviderId;
  start(ctx: SimulatorContext): Promise<StartedSimulator>;
}

export interface SandboxOptions {
  /** Default 1. */
  seed?: Seed;
  /** Simulated seconds per real second. Default 60: exports and rate limits run 60 times faster. */
  timeScale?: number;
  /**
   * The simulated start, so two runs with one seed date their data alike: an ISO date-time with its
   * offset (`'2026-03-01T00:00:00Z'`), a bare date (midnight UTC), epoch ms or a Date. Default: the
   * real time. Or a whole SimClock (tests: `createSimClock({ start, realNow: () => fixed })` stands
   * still until `advance`d); its timeScale then wins, and a different `timeScale` here is an error.
   */
  clock?: string | number | Date | SimClock;
  /** Default 1. */
  size?: number;
  /** Fault configs by simulator name ('lwa' and 'google' included); '*' applies to every provider simulator. */
  faults?: Record<string, FaultConfigInput>;
  simulators: readonly SimulatorFactory[];
  /** Connections to mint secrets for (the config's connections). */
  connections?: readonly SandboxConnectionInput[];
  /** CM360 credential style, for all connections or by connection id. Default 'service-account'. */
  googleAuth?: GoogleAuthStyle | Record<string, GoogleAuthStyle>;
  /** Real seconds tokens live. Defaults: LWA 3600, Google 3599. */
  tokenTtl?: { lwa?: number; google?: number };
  googleExpiresInStyle?: ExpiresInStyle;
  options?: Record<string, Record<string, unknown>>;
  log?: (line: string) => void;
}

export type GoogleAuthStyle = 'service-account' | 'refresh-token';

export interface Sandbox {
  /** Base URLs: lwa, google and one per simulator name. */
  endpoints: Record<string, string>;
  /** Full token endpoint URLs (what a connection's `endpoints.token` points at). */
  tokenUrls: { lwa: string; google: string };
  /** Secret JSON by connection id: what the local Secrets Manager file holds. */
  credentials: Record<string, ConnectionSecret>;
  clock: SimClock;
  lwa: LwaServer;
  google: GoogleOAuthServer;
  stats(): Record<string, SimStats>;
  close(): Promise<void>;
}

async function closeAll(items: ReadonlyArray<{ close(): Promise<void> }>): Promise<void> {
  const results = await Promise.allSettled(items.map((i) => i.close()));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length)
    throw new AggregateError(
      failed.map((f) => f.reason),
      'sandbox: some servers failed to close',
    );
}

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const seed = options.seed ?? 1;
  const { clock, release } = sandboxClock(options);
  const timeScale = clock.timeScale;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const faults: Record<string, FaultConfigInput> = {};
  for (const [name, config] of Object.entries(options.faults ?? {})) {
    parseFaultConfig(config, `faults.${name}`);
    faults[name] = config;
  }
  const names = new Set<string>(['lwa', 'google']);
  for (const s of options.simulators) {
    if (names.has(s.name)) throw new Error(`simulators: the name "${s.name}" is used twice (or is reserved)`);
    names.add(s.name);
  }
  const ids = new Set<string>();
  for (const c of options.connections ?? []) {
    if (ids.has(c.id)) throw new Error(`connections: duplicate connection id "${c.id}"`);
    ids.add(c.id);
  }

  const started: Array<{ name: string } & StartedSimulator> = [];
  try {
    const lwa = await createLwaServer({ clock, seed, faults: faults.lwa, expiresIn: options.tokenTtl?.lwa });
    started.push(lwa);
    const google = await createGoogleOAuthServer({
      clock,
      seed,
      faults: faults.google,
      expiresIn: options.tokenTtl?.google,
      expiresInStyle: options.googleExpiresInStyle,
    });
    started.push(google);

    const connections = await mintCredentials(options, seed, lwa, google);
    const credentials = Object.fromEntries(connections.map((c) => [c.id, c.secret]));

    const endpoints: Record<string, string> = { lwa: lwa.url, google: google.url };
    const caller = (req: SimRequestBase): string => {
      const token = req.bearerToken() ?? req.header('x-amz-access-token');
      return lwa.verify(token)?.subject ?? google.verify(token)?.subject ?? '';
    };
    for (const factory of options.simulators) {
      const simFaults = faults[factory.name] ?? faults['*'];
      const sim = await factory.start({
        name: factory.name,
        seed,
        timeScale,
        clock,
        size: options.size ?? 1,
        options: options.options?.[factory.name] ?? {},
        faults: simFaults,
        lwa,
        google,
        connections: connections.filter(
          (c) => factory.provider !== undefined && c.provider === factory.provider,
        ),
        server: { name: factory.name, clock, seed, faults: simFaults, log, identityKey: caller },
        log,
      });
      started.push({ ...sim, name: factory.name, close: () => sim.close(), stats: () => sim.stats() });
      endpoints[factory.name] = sim.url;
    }

    release();
    return {
      endpoints,
      tokenUrls: { lwa: lwa.tokenUrl, google: google.tokenUrl },
      credentials,
      clock,
      lwa,
      google,
      stats: () => Object.fromEntries(started.map((s) => [s.name, s.stats()])),
      close: () => closeAll(started),
    };
  } catch (err) {
    await closeAll(started).catch(() => {});
    throw err;
  }
}

const regionOf = (c: SandboxConnectionInput) => (c.region ? { region: c.region } : {});

const googleConnection = (c: SandboxConnectionInput): SandboxConnectionInput => ({
  id: c.id,
  provider: c.provider,
  ...regionOf(c),
  ...(c.profileId !== undefined ? { profileId: c.profileId } : {}),
});

function isSimClock(value: SandboxOptions['clock']): value is SimClock {
  return typeof value === 'object' && value !== null && !(value instanceof Date) && 'simNow' in value;
}

/**
 * The sandbox's clock, held at its start until `release()`: simulators that date their data from
 * simNow() in start() all see the start instant itself, however long the others took to start (RSA
 * keys for Google service accounts take a while), so a pinned start gives the same data every run.
 */
function sandboxClock(options: SandboxOptions): { clock: SimClock; release: () => void } {
  if (isSimClock(options.clock)) {
    const given = options.clock;
    if (options.timeScale !== undefined && options.timeScale !== given.timeScale) {
      throw new RangeError(
        `timeScale: ${options.timeScale} differs from the given clock's timeScale ${given.timeScale}`,
      );
    }
    return { clock: given, release: () => {} };
  }
  const start = options.clock === undefined ? undefined : parseSimTime(options.clock, 'clock');
  const heldAt = Date.now();
  let pausedMs: number | undefined;
  const clock = createSimClock({
    timeScale: options.timeScale ?? 60,
    ...(start === undefined ? {} : { start }),
    realNow: () => (pausedMs === undefined ? heldAt : Date.now() - pausedMs),
  });
  return {
    clock,
    release: () => {
      pausedMs ??= Date.now() - heldAt;
    },
  };
}

/** One secret per connection, fixed by the seed (service account keys excepted: RSA keys are random). */
async function mintCredentials(
  options: SandboxOptions,
  seed: Seed,
  lwa: LwaServer,
  google: GoogleOAuthServer,
): Promise<SandboxConnection[]> {
  const out: SandboxConnection[] = [];
  const lwaApps = new Map<ProviderId, { clientId: string; clientSecret: string }>();
  let googleClient: { clientId: string; clientSecret: string } | undefined;

  for (const c of options.connections ?? []) {
    const rng = createRng(`${seed}/credentials/${c.id}`);
    if (PROVIDER_AUTH[c.provider] === 'lwa') {
      let app = lwaApps.get(c.provider);
      if (!app) {
        const appRng = createRng(`${seed}/lwa-app/${c.provider}`);
        app = {
          clientId: `amzn1.application-oa2-client.${appRng.hex(32)}`,
          clientSecret: `amzn1.oa2-cs.v1.${appRng.hex(64)}`,
        };
        lwa.registerClient(app);
        lwaApps.set(c.provider, app);
      }
      const refreshToken = `Atzr|${rng.hex(16)}${rng.id('', 48)}`;
      lwa.addRefreshToken(app.clientId, { refreshToken, subject: c.id });
      out.push({ id: c.id, provider: c.provider, ...regionOf(c), secret: { ...app, refreshToken } });
      continue;
    }
    const style = typeof options.googleAuth === 'string' ? options.googleAuth : options.googleAuth?.[c.id];
    if (style === 'refresh-token') {
      if (!googleClient) {
        const appRng = createRng(`${seed}/google-client`);
        googleClient = {
          clientId: `${appRng.digits(12)}-${appRng.hex(32)}.apps.googleusercontent.com`,
          clientSecret: `GOCSPX-${appRng.id('', 28)}`,
        };
        google.registerClient(googleClient);
      }
      const refreshToken = `1//0${rng.id('', 60)}`;
      google.addRefreshToken(googleClient.clientId, {
        refreshToken,
        subject: c.id,
        scope: DFATRAFFICKING_SCOPE,
      });
      out.push({ ...googleConnection(c), secret: { ...googleClient, refreshToken } });
    } else {
      const email = `sandbox-${c.id}@invoice-ingest-sandbox.iam.gserviceaccount.com`;
      const { key, publicKey } = await newServiceAccount(email, google.tokenUrl);
      google.registerServiceAccount({ clientEmail: email, publicKey, subject: c.id });
      out.push({ ...googleConnection(c), secret: { serviceAccount: key } });
    }
  }
  return out;
}
