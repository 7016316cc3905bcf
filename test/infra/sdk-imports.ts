import { build } from 'esbuild';

export interface SdkImport {
  /** e.g. `@aws-sdk/lib-dynamodb` */
  module: string;
  /** The exported name, e.g. `DeleteCommand` (not the local alias esbuild may give it). */
  name: string;
}

/**
 * Every value a function's code uses from the AWS SDK, read from its bundle: the handler is bundled as the
 * stack bundles it (ESM, tree-shaken) but with packages left external, so the bundle's own `import { ... }
 * from "@aws-sdk/..."` lines name what the reachable code can use. Whole files and paths are never named: a
 * refactored core is followed through its imports. Code the tree-shaking keeps counts whole (a class keeps
 * every method), which over-approximates what one function calls; calls made inside SDK packages (lib-storage's
 * Upload sending the multipart commands) are the caller's to map.
 */
export async function sdkImportsOf(entry: string): Promise<SdkImport[]> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    mainFields: ['module', 'main'],
    packages: 'external',
    logLevel: 'silent',
  });
  const code = result.outputFiles.map((f) => f.text).join('\n');
  const imports = /import\s*\{([^}]*)\}\s*from\s*["'](@aws-sdk\/[^"']+)["'];?/g;
  // esbuild keeps an external import whole even when tree-shaking dropped the code using some of its names,
  // so a name counts only when the code left outside the import lines still refers to it.
  const body = code.replace(imports, '');
  const found = new Map<string, SdkImport>();
  for (const m of code.matchAll(imports)) {
    const [, names = '', module = ''] = m;
    for (const binding of names.split(',')) {
      const [name, local = name] = binding.trim().split(/\s+as\s+/);
      if (name && local && new RegExp(`(?<![\\w$.])${local.replace(/\$/g, '\\$')}(?![\\w$])`).test(body)) {
        found.set(`${module} ${name}`, { module, name });
      }
    }
  }
  if (/import\s*\*\s*as\s+\w+\s+from\s*["']@aws-sdk\//.test(code) || /import\(["']@aws-sdk\//.test(code)) {
    throw new Error(`${entry} imports an AWS SDK module whole; its calls cannot be read from the bundle`);
  }
  return [...found.values()].sort((a, b) => `${a.module} ${a.name}`.localeCompare(`${b.module} ${b.name}`));
}
