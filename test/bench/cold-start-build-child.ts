import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AssetStaging } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { buildApp } from '../../infra/aws/build.ts';
import { SOURCE_MAPS_DIR } from '../../infra/aws/functions.ts';
import { parseConfig } from '../../shared/config/load.ts';

/**
 * Builds the stack from the example config into a cloud assembly directory, which bundles every function
 * exactly as a synth does, and prints where each bundle went: run apart from the benchmark because the
 * bundling prints a report per function.
 */
const outdir = process.argv[2];
if (!outdir) throw new Error('usage: cold-start-build-child.ts OUTDIR');
const root = join(import.meta.dirname, '../..');
const config = parseConfig(JSON.parse(readFileSync(join(root, 'config/connections.example.json'), 'utf8')));
const { stack } = buildApp(config, { outdir });
const built = stack.functions.all().map(({ name, fn }) => {
  const staging = fn.node.findChild('Code').node.findChild('Stage') as AssetStaging;
  const env = stack.resolve((fn.node.defaultChild as CfnFunction).environment) as
    | { variables?: Record<string, unknown> }
    | undefined;
  const nodeOptions = env?.variables?.NODE_OPTIONS;
  return {
    name,
    dir: staging.absoluteStagedPath,
    map: join(outdir, SOURCE_MAPS_DIR, `${name}.mjs.map`),
    nodeOptions: typeof nodeOptions === 'string' ? nodeOptions : '',
  };
});
process.stdout.write(JSON.stringify(built));
