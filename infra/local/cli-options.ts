import { parseArgs } from 'node:util';
import { PROVIDERS, type ProviderId } from '../../shared/config/schema.ts';
import { isCalendarDate } from '../../shared/invoice/model.ts';
import { parseSimTime } from '../sandbox/framework/clock.ts';
import { FunctionSettingError, functionSettings } from './function-settings.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

export const USAGE = `Usage: npm start -- [options]

Runs every connection of the config against the provider simulators (or, with --live, the real APIs),
until every queue is idle, then prints a summary and mirrors the bucket into --out.

Options:
  --provider <id>       only this provider (${PROVIDERS.join(', ')})
  --connection <id>     only this connection
  --from <YYYY-MM-DD>   window start (default: watermark less the connection's lookback)
  --to <YYYY-MM-DD>     window end (default: today, or the --clock day; needs --from)
  --invoice-id <id>     fetch one invoice (with --provider)
  --job <name>          a provider job other than the default (e.g. billing-statements)
  --config <file>       connections config (default: config/connections.json, else the example)
  --out <dir>           where the bucket is mirrored (default: ./out)
  --state <dir>         where the state table and the bucket are kept between runs (default: .local/state;
                        sandbox and --live runs each have their own folder inside)
  --fresh               empty that state first: start over
  --full                re-read every invoice of the window, also those unchanged since they landed final
  --set NAME=value      a function setting (POLL_FIRST_DELAY_SECONDS, HTTP_DEFER_THRESHOLD_MS, ...; see
                        README "Function settings"); repeatable, and wins over --env-file
  --env-file <file>     function settings as NAME=value lines
  --json                print the summary as one JSON document on stdout (every log line goes to stderr)
  --serve               keep the stack up and serve the runs API on localhost (POST /runs, GET /runs/{id})
  --port <n>            port for --serve (default: a free port)
  --live                real provider endpoints; credentials from --secrets
  --secrets <file>      with --live: JSON of secret name -> secret (default: config/secrets.local.json)
  --seed <n>            sandbox data seed (default 1)
  --time-scale <n>      sandbox simulated seconds per real second (default 60); the functions' rate
                        plans run at the same scale (RATE_PLAN_SCALE)
  --faults <file>       sandbox fault injection, JSON by simulator name
  --simulate <file>     simulator settings, JSON by simulator name, over npm start's own (e.g. the
                        switches that make control totals gaps: README "Control totals")
  --clock <ISO time>    sandbox start, pinned (e.g. 2026-03-01T00:00:00Z, a past day): with one --seed,
                        runs repeat byte for byte; run windows end on its day instead of today
  --quiet               no live progress line
  --verbose             the functions' own log lines too
  -h, --help            this text`;

export interface CliOptions {
  provider?: ProviderId;
  connection?: string;
  from?: string;
  to?: string;
  invoiceId?: string;
  job?: string;
  config?: string;
  out: string;
  /** The state directory (its sandbox-seed-<n> or live folder is the one used). */
  state: string;
  fresh: boolean;
  /** Re-read every invoice, unchanged final ones too. */
  full: boolean;
  /** Function settings from --env-file and --set, checked. */
  settings: Record<string, string>;
  json: boolean;
  serve: boolean;
  port: number;
  live: boolean;
  secrets?: string;
  seed: number;
  timeScale: number;
  faults?: string;
  /** --simulate: a JSON file of simulator settings by simulator name. */
  simulate?: string;
  /** --clock as an ISO instant (UTC): the sandbox's simulated start, and "today" of the run windows. */
  clock?: string;
  quiet: boolean;
  verbose: boolean;
  help: boolean;
}

function positiveNumber(name: string, raw: string | undefined, fallback: number, integer: boolean): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name}: expected a ${integer ? 'whole ' : ''}number >= 0, got "${raw}"`);
  }
  return n;
}

/**
 * --clock: a past day only. The functions end a window no later than their own (real) clock, so a
 * window ending today would end at a different second on every run, and the data after the pin
 * would not exist yet in the simulators.
 */
function parseClock(raw: string, now: Date): string {
  let ms: number;
  try {
    ms = parseSimTime(raw, '--clock');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const today = now.toISOString().slice(0, 10);
  const iso = new Date(ms).toISOString();
  if (iso.slice(0, 10) >= today) {
    throw new UsageError(
      `--clock: ${raw} is not before today (${today}, UTC); pin a day that is over, so every run sees the same window`,
    );
  }
  return iso;
}

/** Parses and checks every option before anything starts; a bad one is a UsageError naming it. */
export function parseCliOptions(argv: string[], now = new Date()): CliOptions {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (parsed.positionals.length) throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`);
  if (v.provider !== undefined && !(PROVIDERS as readonly string[]).includes(v.provider)) {
    throw new UsageError(`--provider: "${v.provider}" is not one of ${PROVIDERS.join(', ')}`);
  }
  for (const name of ['from', 'to'] as const) {
    const d = v[name];
    if (d !== undefined && !isCalendarDate(d)) {
      throw new UsageError(`--${name}: expected a date as YYYY-MM-DD, got "${d}"`);
    }
  }
  if (v.to && !v.from) throw new UsageError('--to needs --from');
  if (v.from && v.to && v.from > v.to) throw new UsageError(`--from ${v.from} is after --to ${v.to}`);
  if (v['invoice-id'] && !v.provider) throw new UsageError('--invoice-id needs --provider');
  if (v.secrets && !v.live) throw new UsageError('--secrets goes with --live');
  if (v.port !== undefined && !v.serve) throw new UsageError('--port goes with --serve');
  const port = positiveNumber('port', v.port, 0, true);
  if (port > 65_535) throw new UsageError(`--port: expected a port up to 65535, got ${port}`);
  if (v.live && (v.faults || v.simulate || v.seed || v['time-scale'] || v.clock)) {
    throw new UsageError(
      '--faults, --simulate, --seed, --time-scale and --clock are for the sandbox, not --live',
    );
  }
  const clock = v.clock === undefined ? undefined : parseClock(v.clock, now);
  if (clock) {
    const day = clock.slice(0, 10);
    for (const name of ['from', 'to'] as const) {
      const d = v[name];
      if (d && d > day) throw new UsageError(`--${name} ${d} is after the --clock day ${day}`);
    }
  }
  let settings: Record<string, string>;
  try {
    settings = functionSettings(v.set ?? [], v['env-file']);
  } catch (err) {
    if (err instanceof FunctionSettingError) throw new UsageError(err.message);
    throw err;
  }
  if (v.live && settings.RATE_PLAN_SCALE !== undefined && Number(settings.RATE_PLAN_SCALE) !== 1) {
    // Real APIs keep real time: a scaled plan would send faster than the provider allows.
    throw new UsageError(`--set RATE_PLAN_SCALE=${settings.RATE_PLAN_SCALE} is for the sandbox, not --live`);
  }
  const timeScale = positiveNumber('time-scale', v['time-scale'], 60, false);
  if (timeScale <= 0) throw new UsageError('--time-scale: must be above 0');
  return {
    ...(v.provider ? { provider: v.provider as ProviderId } : {}),
    ...(v.connection ? { connection: v.connection } : {}),
    ...(v.from ? { from: v.from } : {}),
    ...(v.to ? { to: v.to } : {}),
    ...(v['invoice-id'] ? { invoiceId: v['invoice-id'] } : {}),
    ...(v.job ? { job: v.job } : {}),
    ...(v.config ? { config: v.config } : {}),
    out: v.out ?? 'out',
    state: v.state ?? '.local/state',
    fresh: Boolean(v.fresh),
    full: Boolean(v.full),
    settings,
    json: Boolean(v.json),
    serve: Boolean(v.serve),
    port,
    live: Boolean(v.live),
    ...(v.secrets ? { secrets: v.secrets } : {}),
    seed: positiveNumber('seed', v.seed, 1, true),
    timeScale,
    ...(v.faults ? { faults: v.faults } : {}),
    ...(v.simulate ? { simulate: v.simulate } : {}),
    ...(clock ? { clock } : {}),
    quiet: Boolean(v.quiet),
    verbose: Boolean(v.verbose),
    help: Boolean(v.help),
  };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      provider: { type: 'string' },
      connection: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      'invoice-id': { type: 'string' },
      job: { type: 'string' },
      config: { type: 'string' },
      out: { type: 'string' },
      state: { type: 'string' },
      fresh: { type: 'boolean' },
      full: { type: 'boolean' },
      set: { type: 'string', multiple: true },
      'env-file': { type: 'string' },
      json: { type: 'boolean' },
      serve: { type: 'boolean' },
      port: { type: 'string' },
      live: { type: 'boolean' },
      secrets: { type: 'string' },
      seed: { type: 'string' },
      'time-scale': { type: 'string' },
      faults: { type: 'string' },
      simulate: { type: 'string' },
      clock: { type: 'string' },
      quiet: { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
