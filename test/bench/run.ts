import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * `npm run bench [name...]`: runs every test/bench/<name>.ts that exports `run()`, one after another.
 * Each prints its own figures and targets; nothing here asserts, benchmarks inform.
 */
// Lambda runs Node 24; the SDK's notice about Node 20 would only interleave with the figures.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const names = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('-child.ts'))
  .map((f) => f.slice(0, -3))
  .filter((n) => !wanted.length || wanted.includes(n))
  .sort();

for (const name of names) {
  const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as { run?: () => Promise<void> };
  if (typeof mod.run !== 'function') continue;
  console.log(`\n=== bench: ${name}`);
  await mod.run();
}
