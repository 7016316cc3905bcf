import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config, Connection } from '../../shared/config/schema.ts';
import { PROVIDER_AUTH, type Sandbox } from '../sandbox/index.ts';
import { UsageError } from './cli-options.ts';

/**
 * The config the functions read when they run against the simulators: the user's connections with their
 * API and token endpoints pointed at the sandbox, written to a temp file (CONNECTIONS_FILE), and the
 * secrets the local Secrets Manager serves, by secret name.
 */
export async function sandboxConfig(
  config: Config,
  sandbox: Sandbox,
): Promise<{ config: Config; path: string; secrets: Record<string, unknown> }> {
  const local: Config = {
    ...config,
    connections: config.connections.map((c) => {
      const api = sandbox.endpoints[c.provider];
      const token = PROVIDER_AUTH[c.provider] === 'lwa' ? sandbox.tokenUrls.lwa : sandbox.tokenUrls.google;
      return { ...c, endpoints: { ...(c.endpoints ?? {}), ...(api ? { api } : {}), token } };
    }),
  };
  const dir = await mkdtemp(join(tmpdir(), 'invoice-ingest-config-'));
  const path = join(dir, 'connections.json');
  await writeFile(path, JSON.stringify(local, null, 2));
  const secrets: Record<string, unknown> = {};
  for (const c of config.connections) {
    const secret = sandbox.credentials[c.id];
    if (secret) secrets[c.secretName] = secret;
  }
  return { config: local, path, secrets };
}

export interface PinnedRun {
  window: { from: string; to: string };
  connections: Connection[];
}

const DAY_MS = 86_400_000;

/**
 * With --clock, the runs' windows, one run per distinct window. The functions read their own (real)
 * clock for "today", so a run with no window would cover days the pinned simulators do not have; each
 * connection gets the window its first run (no watermark yet) would cover, kept state or not,
 * on the pinned day: from its backfillFrom, else that day less its lookbackDays, to that day.
 */
export function pinnedRuns(connections: readonly Connection[], day: string): PinnedRun[] {
  const runs = new Map<string, PinnedRun>();
  for (const c of connections) {
    const back = new Date(Date.parse(`${day}T00:00:00Z`) - c.lookbackDays * DAY_MS)
      .toISOString()
      .slice(0, 10);
    const from = c.backfillFrom ?? back;
    const window = { from: from > day ? day : from, to: day };
    const key = `${window.from}/${window.to}`;
    const run = runs.get(key);
    if (run) run.connections.push(c);
    else runs.set(key, { window, connections: [c] });
  }
  return [...runs.values()];
}

/** With --live: secrets from a local JSON file (secret name -> secret), never logged. */
export async function liveSecrets(
  file: string,
  connections: readonly Connection[],
): Promise<Record<string, unknown>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new UsageError(
      `--secrets ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new UsageError(`--secrets ${file}: expected an object of secret name -> secret`);
  const secrets = raw as Record<string, unknown>;
  const missing = connections
    .filter((c) => !(c.secretName in secrets))
    .map((c) => `${c.id} (${c.secretName})`);
  if (missing.length) throw new UsageError(`--secrets ${file}: no secret for ${missing.join(', ')}`);
  return secrets;
}
