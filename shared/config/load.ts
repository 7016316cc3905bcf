import { readFileSync } from 'node:fs';
import type * as z from 'zod';
import { type Config, type Connection, configSchema, type ProviderId } from './schema.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Turns zod issues into lines that name the file, the connection (by id when it has one) and the field. An
 * unknown key gets a line of its own at its own path (zod reports it at the enclosing object).
 */
export function describeConfigIssues(file: string, raw: unknown, error: z.ZodError): string {
  const lines = error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => describeAt(raw, [...issue.path, key], 'unknown key'));
    }
    return [describeAt(raw, [...issue.path], issue.message)];
  });
  return `invalid config ${file}:\n${lines.join('\n')}`;
}

function describeAt(raw: unknown, path: PropertyKey[], message: string): string {
  let where = '';
  if (path[0] === 'connections' && typeof path[1] === 'number') {
    const entry = (raw as { connections?: Array<{ id?: unknown }> }).connections?.[path[1]];
    const id = typeof entry?.id === 'string' ? `"${entry.id}"` : `#${path[1]}`;
    where = `connection ${id}`;
    path.splice(0, 2);
  }
  const field = path.length ? path.map(String).join('.') : '(root)';
  return `  - ${where ? `${where}, ` : ''}field "${field}": ${message}`;
}

export function parseConfig(raw: unknown, file = '<inline>'): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(describeConfigIssues(file, raw, result.error));
  return result.data;
}

export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseConfig(raw, file);
}

/** Default config for synth and the local stack: config/connections.json when present, else the example. */
export function defaultConfigPath(root = process.cwd()): string {
  const own = `${root}/config/connections.json`;
  try {
    readFileSync(own);
    return own;
  } catch {
    return `${root}/config/connections.example.json`;
  }
}

let cached: Config | undefined;
/** Inside a function: the config bundled next to the handler (CONNECTIONS_FILE), read once per container. */
export function runtimeConfig(): Config {
  if (!cached) {
    const file = process.env.CONNECTIONS_FILE;
    if (!file) throw new ConfigError('CONNECTIONS_FILE is not set');
    cached = loadConfig(file);
  }
  return cached;
}
export function resetRuntimeConfig(): void {
  cached = undefined;
}

export function findConnection(config: Config, id: string, provider?: ProviderId): Connection {
  const c = config.connections.find((x) => x.id === id);
  if (!c) throw new ConfigError(`unknown connection "${id}"`);
  if (provider && c.provider !== provider) {
    throw new ConfigError(`connection "${id}" is a ${c.provider} connection, not ${provider}`);
  }
  return c;
}
