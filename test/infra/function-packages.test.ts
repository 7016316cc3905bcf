import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/local/stack.ts';

// Each Lambda bundle is built from a functions/<name>/handler.ts (infra/aws/functions.ts and
// infra/local/bundles.ts): a devDependency reachable from a handler would end up in a Lambda. DuckDB
// (`npm run query`) is a native module for laptops only.

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const handlers = readdirSync(join(REPO_ROOT, 'functions'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => join(REPO_ROOT, 'functions', d.name, 'handler.ts'));

/** Every package a handler's code imports at run time (type-only imports are erased), by package name. */
async function packagesOf(entry: string): Promise<string[]> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    metafile: true,
    format: 'esm',
    platform: 'node',
    packages: 'external',
    logLevel: 'silent',
  });
  const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
  const names = imports
    .filter((p) => !p.startsWith('node:') && !p.startsWith('.') && !p.startsWith('/'))
    .map((p) =>
      p
        .split('/')
        .slice(0, p.startsWith('@') ? 2 : 1)
        .join('/'),
    );
  return [...new Set(names)].sort();
}

describe('what the functions import', () => {
  it('keeps DuckDB a devDependency', () => {
    expect(pkg.devDependencies['@duckdb/node-api']).toMatch(/^\d+\.\d+\.\d+/);
    expect(pkg.dependencies['@duckdb/node-api']).toBeUndefined();
  });

  it('reaches no devDependency from any handler', async () => {
    expect(handlers.length).toBeGreaterThan(0);
    for (const handler of handlers) {
      const used = await packagesOf(handler);
      expect(used, handler).not.toContain('@duckdb/node-api');
      expect(
        used.filter((name) => name in pkg.devDependencies),
        handler,
      ).toEqual([]);
    }
  });
});
