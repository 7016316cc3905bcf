import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run$ = promisify(execFile);
const KB = 1024;
const TARGET_BYTES = 300 * KB;
const TARGET_INIT_MS = 100;
/** A source map is worth loading at init only below this cost. */
const MAP_BUDGET_MS = 10;

interface Built {
  name: string;
  /** The function's asset directory: index.mjs and what the stack copies beside it. */
  dir: string;
  /** The bundle's source map, kept beside the cloud assembly. */
  map: string;
  /** NODE_OPTIONS as the stack sets it for the function. */
  nodeOptions: string;
}

/**
 * Module init as the runtime sees it: one `await import` of the bundle in a fresh process. Wall time is the
 * target; CPU time (all threads) is printed beside it because it moves less when the machine is busy. Then
 * the bundle's source map is looked up as the first stack trace through it would (nothing without
 * --enable-source-maps): Node 20 reads maps at import, Node 24 at that first trace.
 */
const IMPORT = [
  "const { findSourceMap } = await import('node:module');",
  'const c = process.cpuUsage(), t = performance.now();',
  'await import(process.argv[1]);',
  'const wall = performance.now() - t, u = process.cpuUsage(c);',
  'const r = process.memoryUsage().rss, t2 = performance.now();',
  'findSourceMap(process.argv[1])?.findEntry(0, 0);',
  'const trace = performance.now() - t2, traceMb = (process.memoryUsage().rss - r) / 1048576;',
  'process.stdout.write(JSON.stringify({ wall, cpu: (u.user + u.system) / 1000, trace, traceMb }));',
].join(' ');

interface Init {
  wall: number;
  cpu: number;
  /** The first source-map lookup after init: ms and MB of RSS. */
  trace: number;
  traceMb: number;
}

/** Bundles every function through the stack itself (buildApp), so the options are exactly a synth's. */
async function buildFunctions(outdir: string): Promise<Built[]> {
  const child = join(import.meta.dirname, 'cold-start-build-child.ts');
  try {
    const { stdout } = await run$(process.execPath, ['--import', 'tsx', child, outdir], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return JSON.parse(stdout) as Built[];
  } catch (err) {
    throw new Error(`building the stack failed:\n${(err as { stderr?: string }).stderr ?? String(err)}`);
  }
}

async function init(bundle: string, nodeOptions: string): Promise<Init> {
  const { stdout } = await run$(
    process.execPath,
    ['--input-type=module', '-e', IMPORT, pathToFileURL(bundle).href],
    { env: { ...process.env, NODE_OPTIONS: nodeOptions, AWS_REGION: process.env.AWS_REGION ?? 'us-east-1' } },
  );
  return JSON.parse(stdout) as Init;
}

/** The bundle with its map attached again, to show what loading maps at init would cost. */
async function withMap(fn: Built, outdir: string): Promise<string> {
  const dir = join(outdir, 'with-map', fn.name);
  await mkdir(dir, { recursive: true });
  const code = await readFile(join(fn.dir, 'index.mjs'), 'utf8');
  await writeFile(join(dir, 'index.mjs'), `${code}\n//# sourceMappingURL=index.mjs.map\n`);
  await copyFile(fn.map, join(dir, 'index.mjs.map'));
  return join(dir, 'index.mjs');
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const spread = (xs: number[]) =>
  `${Math.min(...xs).toFixed(0)} / ${median(xs).toFixed(0)} / ${Math.max(...xs).toFixed(0)}`;

export async function run(): Promise<void> {
  const runs = Number(process.env.BENCH_COLD_RUNS ?? 20);
  const outdir = await mkdtemp(join(tmpdir(), 'bench-cold-'));
  try {
    const functions = await buildFunctions(outdir);
    const rows = await Promise.all(
      functions.map(async (fn) => {
        const bundle = join(fn.dir, 'index.mjs');
        return {
          fn,
          bundle,
          shipped: (await stat(bundle)).size,
          mapBytes: (await stat(fn.map)).size,
          mapped: await withMap(fn, outdir),
          deployed: [] as Init[],
          withMap: [] as Init[],
        };
      }),
    );
    // Round-robin over functions and both variants, so a busy moment on the machine spreads over all of them.
    for (let i = 0; i < runs; i++) {
      for (const r of rows) {
        r.deployed.push(await init(r.bundle, r.fn.nodeOptions));
        r.withMap.push(await init(r.mapped, `${r.fn.nodeOptions} --enable-source-maps`.trim()));
      }
    }
    const wall = (xs: Init[]) => xs.map((x) => x.wall);
    const cpu = (xs: Init[]) => xs.map((x) => x.cpu);
    const mapCost = (r: (typeof rows)[number]) => median(wall(r.withMap)) - median(wall(r.deployed));
    console.log(
      `node ${process.version}; init = await import(index.mjs) in a fresh process, ms, min / median / max of ${runs}`,
    );
    console.log(
      `${'function'.padEnd(30)} ${'bundle'.padStart(7)} ${'map'.padStart(8)}  ${'init wall'.padEnd(15)} ${'init cpu'.padEnd(15)} with its map loaded (wall; first stack trace, medians)`,
    );
    for (const r of rows) {
      const extra = mapCost(r);
      const trace = median(r.withMap.map((x) => x.trace));
      const traceMb = median(r.withMap.map((x) => x.traceMb));
      console.log(
        `${r.fn.name.padEnd(30)} ${`${(r.shipped / KB).toFixed(0)} KB`.padStart(7)} ${`${(r.mapBytes / KB).toFixed(0)} KB`.padStart(8)}  ` +
          `${spread(wall(r.deployed)).padEnd(15)} ${spread(cpu(r.deployed)).padEnd(15)} ` +
          `${spread(wall(r.withMap))} (${extra >= 0 ? '+' : ''}${extra.toFixed(0)}), first trace +${trace.toFixed(0)} ms +${traceMb.toFixed(0)} MB`,
      );
    }
    const small = rows.filter((r) => r.shipped < TARGET_BYTES).length;
    const fast = rows.filter((r) => median(wall(r.deployed)) < TARGET_INIT_MS).length;
    const nodeOptions = [...new Set(rows.map((r) => r.fn.nodeOptions || '(none)'))].join(', ');
    console.log(
      `targets: bundle < 300 KB (${small} of ${rows.length}); init median < ${TARGET_INIT_MS} ms (${fast} of ${rows.length}); ` +
        `source maps loaded at init only if they cost < ${MAP_BUDGET_MS} ms (median cost ${median(rows.map(mapCost)).toFixed(0)} ms; ` +
        `the stack's NODE_OPTIONS: ${nodeOptions}; maps are kept beside the cloud assembly)`,
    );
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}
