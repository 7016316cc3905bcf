import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/aws/build.ts';
import { lambdaBundles } from '../../infra/local/bundles.ts';
import { REPO_ROOT } from '../../infra/local/stack.ts';
import { loadConfig } from '../../shared/config/load.ts';

/**
 * The local stack runs what Lambda runs: each function's local bundle is byte for byte the index.mjs the
 * CDK app packages for it. A change to the stack's bundling options that the local build does not follow
 * fails here.
 */

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('local bundles and the stack assets', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'bundle-parity-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('are the same bytes for every function', async () => {
    const { app, stack } = buildApp(loadConfig(join(REPO_ROOT, 'config/connections.example.json')), {
      outdir,
    });
    const functions = stack.functions.all();
    const dir = app.synth().directory;
    const manifest = JSON.parse(readFileSync(join(dir, `${stack.stackName}.assets.json`), 'utf8')) as {
      files: Record<string, { source: { path: string } }>;
    };
    const assets = new Set(
      Object.values(manifest.files)
        .map((f) => join(dir, f.source.path, 'index.mjs'))
        .filter((p) => existsSync(p))
        .map(sha),
    );
    const local = await lambdaBundles(functions.map((f) => f.entry));
    expect(functions.length).toBe(8);
    for (const f of functions) expect(assets.has(sha(local.modules.get(f.entry)!)), f.name).toBe(true);
  }, 300_000);
});
