import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';

/**
 * The environment variables that tune the functions (README "Function settings"), as `npm start` takes
 * them: `--set NAME=value` and `--env-file <file>`. Each is checked here, before anything starts, the way
 * the function would read it, so a typo or a bad value is an option error instead of a run that quietly
 * ignores it or fails in its first invocation.
 */

type Check = (value: string) => string | undefined;

const number =
  (min: number, integer = false): Check =>
  (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      return `expected a ${integer ? 'whole ' : ''}number >= ${min}`;
    }
    return undefined;
  };

const HOST = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;
const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'];

export interface FunctionSetting {
  /** The default in the functions' code (the sandbox run may start from other values, see sandboxSettings). */
  default: string;
  check: Check;
}

export const FUNCTION_SETTINGS: Record<string, FunctionSetting> = {
  HTTP_DEFER_THRESHOLD_MS: { default: '5000', check: number(0) },
  MAX_CONTINUATIONS: { default: '500', check: number(0) },
  MAX_MESSAGE_AGE_HOURS: { default: '72', check: number(0) },
  POLL_FIRST_DELAY_SECONDS: { default: '30', check: number(0) },
  POLL_FACTOR: { default: '1.5', check: number(1) },
  POLL_MAX_DELAY_SECONDS: { default: '900', check: number(0) },
  RATE_PLAN_SCALE: {
    default: '1',
    check: (v) => number(0)(v) ?? (Number(v) > 0 ? undefined : 'expected a number above 0'),
  },
  // Derived from the queues' settings when not given (shared/runtime/stale-after.ts): 375 with the defaults.
  RUN_STALE_AFTER_MINUTES: { default: '375', check: number(0) },
  SP_API_EXPORT_DEADLINE_HOURS: { default: '12', check: number(0) },
  SP_API_ZIP_MAX_ENTRIES: { default: '100000', check: number(1, true) },
  SP_API_ZIP_MAX_BYTES: { default: String(8 * 1024 ** 3), check: number(1, true) },
  SP_API_ZIP_MAX_ENTRY_BYTES: { default: String(16 * 1024 ** 2), check: number(1, true) },
  SP_API_ZIP_MAX_RATIO: { default: '200', check: number(1) },
  PENDING_DOCUMENT_MAX_AGE_DAYS: { default: '30', check: number(0) },
  EXTRA_DOWNLOAD_HOSTS: {
    default: '',
    check: (v) =>
      v
        .split(',')
        .map((h) => h.trim())
        .filter(Boolean)
        .every((h) => HOST.test(h))
        ? undefined
        : 'expected host names separated by commas (e.g. reports.example.com,cdn.example.com)',
  },
  POWERTOOLS_LOG_LEVEL: {
    default: 'INFO',
    check: (v) =>
      LOG_LEVELS.includes(v.toUpperCase()) ? undefined : `expected one of ${LOG_LEVELS.join(', ')}`,
  },
};

/**
 * What a sandbox run starts from: the simulators finish exports in seconds at their time scale, so the
 * poller checks every second or so instead of after 30 s; and they enforce their rate plans in simulated
 * time, so the functions' plans run at the same scale. `--set` overrides these too.
 */
export function sandboxSettings(timeScale: number): Record<string, string> {
  return {
    POLL_FIRST_DELAY_SECONDS: '1',
    POLL_FACTOR: '1.5',
    POLL_MAX_DELAY_SECONDS: '5',
    RATE_PLAN_SCALE: String(timeScale),
  };
}

export class FunctionSettingError extends Error {
  override name = 'FunctionSettingError';
}

function checked(name: string, value: string, where: string): [string, string] {
  const setting = FUNCTION_SETTINGS[name];
  if (!setting) {
    throw new FunctionSettingError(
      `${where}: "${name}" is not a function setting (one of ${Object.keys(FUNCTION_SETTINGS).join(', ')})`,
    );
  }
  const problem = setting.check(value);
  if (problem) throw new FunctionSettingError(`${where}: ${name}=${value}: ${problem}`);
  return [name, value];
}

/** Settings from an env file (`NAME=value` lines, # comments), then each `--set NAME=value`: later wins. */
export function functionSettings(sets: readonly string[], envFile?: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (envFile) {
    let text: string;
    try {
      text = readFileSync(envFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new FunctionSettingError(
        `--env-file ${envFile}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
      );
    }
    for (const [name, value] of Object.entries(parseEnv(text))) {
      const [k, v] = checked(name, value ?? '', `--env-file ${envFile}`);
      out[k] = v;
    }
  }
  for (const set of sets) {
    const eq = set.indexOf('=');
    if (eq <= 0) throw new FunctionSettingError(`--set ${set}: expected NAME=value`);
    const [k, v] = checked(set.slice(0, eq).trim(), set.slice(eq + 1), '--set');
    out[k] = v;
  }
  return out;
}
