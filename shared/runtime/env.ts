import { dlqUrlEnv, ENV } from '../aws/resources.ts';

/** The function's own settings, read from the environment the stack (or the local stack) sets. */
export interface FunctionEnv {
  bucket: string;
  table: string;
  ownQueue: string;
  dlqUrl: string | undefined;
  maxReceiveCount: number;
  allowLoopback: boolean;
  extraDownloadHosts: string[];
  /** HTTP_DEFER_THRESHOLD_MS: waits longer than this go back to the queue (default 5 s). */
  deferThresholdMs: number;
  /**
   * RATE_PLAN_SCALE: every operation's rate plan multiplied by this before a provider's rate header corrects
   * it (default 1). For a sandbox whose clock runs N times real time; never set against real APIs.
   */
  ratePlanScale: number;
}

export function functionEnv(env: NodeJS.ProcessEnv = process.env): FunctionEnv {
  const need = (name: string): string => {
    const v = env[name];
    if (!v) throw new Error(`environment variable ${name} is not set`);
    return v;
  };
  const ownQueue = need(ENV.ownQueue);
  return {
    bucket: need(ENV.bucket),
    table: need(ENV.table),
    ownQueue,
    dlqUrl: env[dlqUrlEnv(ownQueue)],
    maxReceiveCount: Number(env[ENV.maxReceiveCount] ?? 5),
    allowLoopback: env[ENV.allowLoopback] === '1',
    deferThresholdMs: numberEnv('HTTP_DEFER_THRESHOLD_MS', 5_000, env),
    ratePlanScale: positiveEnv('RATE_PLAN_SCALE', 1, env),
    extraDownloadHosts: (env[ENV.extraDownloadHosts] ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean),
  };
}

/** Numeric setting with a default; a bad value names the variable. */
export function numberEnv(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`environment variable ${name} must be a non-negative number, got "${raw}"`);
  return n;
}

/** A numeric setting that must be above 0 (a scale, a factor); a bad value names the variable. */
export function positiveEnv(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const n = numberEnv(name, fallback, env);
  if (n === 0) throw new Error(`environment variable ${name} must be above 0, got "${env[name]}"`);
  return n;
}
