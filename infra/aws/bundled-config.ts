import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stage } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { Config } from '../../shared/config/schema.ts';

/** Where functions find the config inside the bundle (the bundle is unpacked to /var/task). */
export const BUNDLED_CONFIG_NAME = 'connections.json';
export const BUNDLED_CONFIG_PATH = `/var/task/${BUNDLED_CONFIG_NAME}`;

/**
 * Writes the validated config (defaults filled in) into the cloud assembly directory, named by its hash so
 * that two configs never share a file, and returns the path the bundling hook copies from.
 */
export function writeBundledConfig(scope: IConstruct, config: Config): string {
  const text = `${JSON.stringify(config, null, 2)}\n`;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const stage = Stage.of(scope);
  if (!stage) throw new Error('writeBundledConfig needs a construct inside an App or Stage');
  mkdirSync(stage.outdir, { recursive: true });
  const file = join(stage.outdir, `connections.${hash}.json`);
  writeFileSync(file, text);
  return file;
}

/** Single-quotes a path for the bash command the bundling hook runs. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
