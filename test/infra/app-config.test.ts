import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The CDK entry point as `cdk synth` runs it (cdk.json), stopped by a bad config before anything is bundled.
let dir: string;
const example = JSON.parse(readFileSync('config/connections.example.json', 'utf8'));

function writeConfig(name: string, mutate: (c: typeof example) => void): string {
  const copy = structuredClone(example);
  mutate(copy);
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(copy));
  return file;
}

function runApp(env: Record<string, string>) {
  const { INVOICE_INGEST_CONFIG: _ignored, CDK_CONTEXT_JSON: _alsoIgnored, ...inherited } = process.env;
  return spawnSync('node_modules/.bin/tsx', ['infra/aws/app.ts'], {
    env: { ...inherited, CDK_OUTDIR: join(dir, 'out'), ...env },
    encoding: 'utf8',
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'infra-app-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('infra/aws/app.ts with an invalid config', () => {
  it('exits 1 naming the file, the connection and the field, without a stack trace', () => {
    const file = writeConfig('bad-schedule.json', (c) => {
      c.connections[2].schedule = 'every day at six';
    });
    const result = runApp({ INVOICE_INGEST_CONFIG: file });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`invalid config ${file}`);
    expect(result.stderr).toContain('connection "sp-br", field "schedule"');
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it('takes the config path from the `config` context before the environment', () => {
    const fromContext = writeConfig('bad-lookback.json', (c) => {
      c.connections[0].lookbackDays = 0;
    });
    const fromEnv = writeConfig('bad-id.json', (c) => {
      c.connections[1].id = 'Not Valid';
    });
    const result = runApp({
      INVOICE_INGEST_CONFIG: fromEnv,
      CDK_CONTEXT_JSON: JSON.stringify({ config: fromContext }),
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`invalid config ${fromContext}`);
    expect(result.stderr).toContain('connection "ads-na", field "lookbackDays"');
    expect(result.stderr).not.toContain(fromEnv);
  });

  it('reports a missing file as such', () => {
    const missing = join(dir, 'nope.json');
    const result = runApp({ INVOICE_INGEST_CONFIG: missing });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`cannot read config ${missing}`);
  });
});
