import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LAMBDA_BUILD_OPTIONS, lambdaBundles } from '../../../infra/local/bundles.ts';

/** The local stack runs esbuild bundles built like the stack's, cached by the content of their inputs. */

const dir = mkdtempSync(join(tmpdir(), 'bundles-test-'));
const cache = join(dir, 'cache');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a source file as saved a while ago (a file saved during a build is not cached: see below). */
function writeSource(path: string, text: string): void {
  writeFileSync(path, text);
  const past = new Date(Date.now() - 60_000);
  utimesSync(path, past, past);
}

const entry = join(dir, 'handler.ts');
const dependency = join(dir, 'greeting.ts');
writeSource(
  entry,
  "import { greeting } from './greeting.ts';\nexport const handler = async (event: { name: string }) => greeting(event.name);\n",
);
writeSource(dependency, 'export const greeting = (name: string): string => "hello " + name;\n');

async function call(module: string, name: string): Promise<unknown> {
  const mod = (await import(`${module}?v=${Date.now()}`)) as { handler: (e: unknown) => Promise<unknown> };
  return mod.handler({ name });
}

describe('function bundles', () => {
  it('builds an ESM bundle with the stack options, then reuses it while no input changes', async () => {
    const first = await lambdaBundles([entry], cache);
    expect(first.built).toBe(1);
    const module = first.modules.get(entry)!;
    expect(module).toMatch(/index\.mjs$/);
    // What NodejsFunction's options give: minified ESM with the require banner and a source map beside it
    // that the bundle does not load (a build artifact, as in the deployed stack).
    const code = readFileSync(module, 'utf8');
    expect(code.startsWith(LAMBDA_BUILD_OPTIONS.banner.js)).toBe(true);
    expect(code).not.toContain('sourceMappingURL');
    expect(readdirSync(dirname(module)).sort()).toEqual(['index.mjs', 'index.mjs.map']);
    expect(await call(module, 'a')).toBe('hello a');

    const again = await lambdaBundles([entry], cache);
    expect(again).toMatchObject({ built: 0 });
    expect(again.modules.get(entry)).toBe(module);
  });

  it('builds again when a file the bundle includes changes, and not when it changes back', async () => {
    const before = (await lambdaBundles([entry], cache)).modules.get(entry)!;
    writeSource(dependency, 'export const greeting = (name: string): string => "hi " + name;\n');
    const changed = await lambdaBundles([entry], cache);
    expect(changed.built).toBe(1);
    const after = changed.modules.get(entry)!;
    expect(after).not.toBe(before);
    expect(await call(after, 'b')).toBe('hi b');

    writeSource(dependency, 'export const greeting = (name: string): string => "hello " + name;\n');
    const back = await lambdaBundles([entry], cache);
    // Same content, same key: the first bundle is still in the cache (its index entry is rebuilt).
    expect(back.modules.get(entry)).toBe(before);
  });

  it('does not cache a bundle whose files were saved while it was built', async () => {
    const fresh = join(dir, 'fresh.ts');
    writeFileSync(fresh, 'export const handler = async () => 1;\n');
    const first = await lambdaBundles([fresh], cache);
    expect(first.modules.get(fresh)).toMatch(/\/uncached-[0-9a-f-]+\/index\.mjs$/);
    expect((await lambdaBundles([fresh], cache)).built).toBe(1);
  });

  it('names the file and the error when a handler does not build', async () => {
    const broken = join(dir, 'broken.ts');
    writeFileSync(broken, "import { nothing } from './missing.ts';\nexport const handler = nothing;\n");
    await expect(lambdaBundles([broken], cache)).rejects.toThrow(/Could not resolve "\.\/missing\.ts"/);
  });
});
