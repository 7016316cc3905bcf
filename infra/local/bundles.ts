import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, version as esbuildVersion } from 'esbuild';

/**
 * The local stack runs what Lambda runs: each handler bundled by esbuild with the options the CDK stack
 * gives NodejsFunction (infra/aws/functions.ts, `bundling`), so a bundling problem shows up locally too.
 * Bundles are kept in a cache keyed by the content of every file that went into them (and the options
 * and esbuild version), so an unchanged handler is not built again and a changed one is never stale.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where bundles are kept between runs (git-ignored with the rest of .local/). */
export const BUNDLE_CACHE_DIR = join(ROOT, '.local', 'bundles');

/**
 * What NodejsFunction passes esbuild for this stack's functions: `--bundle --platform=node
 * --target=node24 --format=esm --minify --sourcemap=external --main-fields=module,main --banner:js=...
 * --alias:@aws-sdk/credential-provider-node=...`, no
 * externals (bundleAwsSDK), output index.mjs. Keep in step with the `bundling` props in functions.ts.
 */
export const LAMBDA_BUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  minify: true,
  // sourceMapMode EXTERNAL: the map is written beside the bundle, and the bundle does not point at it.
  sourcemap: 'external',
  mainFields: ['module', 'main'],
  // As functions.ts's esbuildArgs: the SDK's credential chain is only the environment's, as in Lambda.
  alias: { '@aws-sdk/credential-provider-node': join(ROOT, 'shared/aws/env-credentials.ts') },
  banner: {
    js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  },
} as const satisfies BuildOptions;

/** The local worker runtime (the part of the "Lambda runtime" the stack provides): readable, for this Node. */
export const WORKER_BUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: `node${process.versions.node.split('.')[0]}`,
  format: 'esm',
  sourcemap: true,
} as const satisfies BuildOptions;

export interface Bundles {
  /** Absolute entry path -> absolute path of its bundle's index.mjs. */
  modules: Map<string, string>;
  /** Entries built by this call (0: every bundle came from the cache). */
  built: number;
  ms: number;
}

interface CacheIndex {
  key: string;
  inputs: string[];
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * Content hashes of input files, per call: the functions share most of their inputs. Read synchronously:
 * for a thousand small files that is many times faster than as many queued async reads.
 */
function hashFile(hashes: Map<string, string | undefined>, path: string): string | undefined {
  if (!hashes.has(path)) {
    let h: string | undefined;
    try {
      h = sha256(readFileSync(path));
    } catch {
      h = undefined;
    }
    hashes.set(path, h);
  }
  return hashes.get(path);
}

function changedSince(path: string, since: number): boolean {
  try {
    return statSync(path).mtimeMs >= since;
  } catch {
    return !path.includes('<');
  }
}

/** The cache key of a bundle: its options, its entry and the content of each input, by path. */
function contentKey(
  hashes: Map<string, string | undefined>,
  optionsKey: string,
  entry: string,
  inputs: readonly string[],
): string {
  const parts = [optionsKey, entry];
  for (const input of [...inputs].sort()) {
    // Inputs esbuild made up (e.g. "<define:...>") are not files; their name is their content.
    const h = input.startsWith('<') ? input : hashFile(hashes, resolve(ROOT, input));
    if (h === undefined) return `missing:${input}`;
    parts.push(`${input}\0${h}`);
  }
  return sha256(parts.join('\n'));
}

/**
 * Bundles each entry (absolute paths of handler modules) with `options`, from the cache when every input
 * is unchanged, else in one esbuild call for all the changed ones. Safe when several processes share the
 * cache: each builds into a directory of its own and renames it into place.
 */
export async function buildBundles(
  entries: readonly string[],
  options: BuildOptions,
  cacheDir = BUNDLE_CACHE_DIR,
): Promise<Bundles> {
  const started = performance.now();
  const hashes = new Map<string, string | undefined>();
  const optionsKey = JSON.stringify({ esbuild: esbuildVersion, options });
  const modules = new Map<string, string>();
  const missing: Array<{ entry: string; indexFile: string }> = [];
  await mkdir(join(cacheDir, 'index'), { recursive: true });
  for (const entry of new Set(entries)) {
    const rel = relative(ROOT, entry);
    const indexFile = join(cacheDir, 'index', `${sha256(`${optionsKey}\n${rel}`).slice(0, 32)}.json`);
    const index = await readFile(indexFile, 'utf8').then(
      (t) => JSON.parse(t) as CacheIndex,
      () => undefined,
    );
    const module = index && join(cacheDir, index.key, 'index.mjs');
    if (
      index &&
      module &&
      existsSync(module) &&
      contentKey(hashes, optionsKey, rel, index.inputs) === index.key
    ) {
      modules.set(entry, module);
    } else {
      missing.push({ entry, indexFile });
    }
  }
  if (missing.length) {
    const tmp = join(cacheDir, `tmp-${randomUUID()}`);
    // File times have coarse steps on some file systems: a second of margin.
    const buildStarted = Date.now() - 1000;
    try {
      const result = await build({
        ...options,
        absWorkingDir: ROOT,
        entryPoints: missing.map((m, i) => ({ in: m.entry, out: `${i}/index` })),
        outdir: tmp,
        outExtension: { '.js': '.mjs' },
        metafile: true,
        logLevel: 'silent',
      });
      for (const [i, m] of missing.entries()) {
        const outRel = relative(ROOT, join(tmp, String(i), 'index.mjs'));
        const out = result.metafile.outputs[outRel];
        if (!out) throw new Error(`esbuild did not write ${outRel} for ${m.entry}`);
        const inputs = Object.keys(out.inputs);
        const rel = relative(ROOT, m.entry);
        const key = contentKey(hashes, optionsKey, rel, inputs);
        // A file saved while esbuild ran may not be what it read: that bundle is used once, never cached.
        const dir = inputs.some((p) => changedSince(resolve(ROOT, p), buildStarted))
          ? join(cacheDir, `uncached-${randomUUID()}`)
          : join(cacheDir, key);
        if (!existsSync(join(dir, 'index.mjs'))) {
          await rename(join(tmp, String(i)), dir).catch((err: NodeJS.ErrnoException) => {
            // Another process put the same bundle there first.
            if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
          });
        }
        if (dir.endsWith(key)) {
          const indexTmp = `${m.indexFile}.${randomUUID()}`;
          await writeFile(indexTmp, JSON.stringify({ key, inputs } satisfies CacheIndex));
          await rename(indexTmp, m.indexFile);
        }
        modules.set(m.entry, join(dir, 'index.mjs'));
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    await prune(cacheDir);
  }
  return { modules, built: missing.length, ms: Math.round(performance.now() - started) };
}

/** A bundle no index names is kept this long: a process started before the change may still load it. */
const PRUNE_AFTER_MS = 24 * 3_600_000;

/** Removes bundles no index names any more (old versions of a handler), so the cache does not grow. */
async function prune(cacheDir: string): Promise<void> {
  const live = new Set<string>();
  for (const name of await readdir(join(cacheDir, 'index'))) {
    const text = await readFile(join(cacheDir, 'index', name), 'utf8').catch(() => '');
    try {
      live.add((JSON.parse(text) as CacheIndex).key);
    } catch {
      // A half-written or foreign file: not an index.
    }
  }
  const now = Date.now();
  for (const name of await readdir(cacheDir)) {
    if (name === 'index' || live.has(name)) continue;
    const path = join(cacheDir, name);
    const info = await stat(path).catch(() => undefined);
    if (info?.isDirectory() && now - info.mtimeMs > PRUNE_AFTER_MS) {
      await rm(path, { recursive: true, force: true });
    }
  }
}

/** The handler bundles Lambda would run, by entry. */
export function lambdaBundles(entries: readonly string[], cacheDir?: string): Promise<Bundles> {
  return buildBundles(entries, LAMBDA_BUILD_OPTIONS, cacheDir);
}

/** The worker thread's own code (it loads a bundle and answers invocations), bundled once too. */
export async function workerBundle(
  cacheDir?: string,
): Promise<{ module: string; built: number; ms: number }> {
  const entry = fileURLToPath(new URL('./function-worker.ts', import.meta.url));
  const out = await buildBundles([entry], WORKER_BUILD_OPTIONS, cacheDir);
  return { module: out.modules.get(entry)!, built: out.built, ms: out.ms };
}

/** The directory Lambda would unpack a bundle into (LAMBDA_TASK_ROOT). */
export const taskRootOf = (module: string) => dirname(module);
