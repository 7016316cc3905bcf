import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { REPO_ROOT } from '../../infra/local/stack.ts';

/**
 * `npm start -- --json`: stdout holds exactly one JSON document whatever else is asked (a run's summary,
 * the runs API's address with --serve, the usage, a failure); everything else goes to stderr. A whole
 * run with --json --verbose is checked in local-replay.test.ts.
 */

const run$ = promisify(execFile);
const CLI = ['--openssl-legacy-provider', '--import', 'tsx', 'infra/local/cli.ts'];
const dir = mkdtempSync(join(tmpdir(), 'local-cli-json-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) =>
  run$(process.execPath, [...CLI, ...args], { cwd: REPO_ROOT, timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );

describe('npm start --json', () => {
  it('prints a failure as one JSON document, and the message on stderr', async () => {
    const bad = await cli('--json', '--provider', 'nope');
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout)).toEqual({
      ok: false,
      error: '--provider: "nope" is not one of amazon-ads, amazon-business, sp-api, cm360',
    });
    expect(bad.stderr).toContain('error: --provider: "nope"');

    const unknown = await cli('--json', '--no-such-option');
    expect(unknown.code).toBe(2);
    expect(JSON.parse(unknown.stdout)).toMatchObject({
      ok: false,
      error: expect.stringContaining('no-such'),
    });
  });

  it('prints the usage as one JSON document', async () => {
    const help = await cli('--json', '--help');
    expect(help.code).toBe(0);
    expect(JSON.parse(help.stdout)).toEqual({ usage: expect.stringContaining('--state <dir>') });
  });

  it('with --serve prints the runs API address once it is up, and nothing else', async () => {
    const state = join(dir, 'state');
    const child = spawn(process.execPath, [...CLI, '--serve', '--json', '--verbose', '--state', state], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout.setEncoding('utf8');
    const first = await new Promise<string>((resolve) => {
      child.stdout.on('data', (d: string) => {
        out += d;
        if (out.includes('\n')) resolve(out);
      });
    });
    const doc = JSON.parse(first) as { ok: boolean; runsApi: string; state: string };
    expect(doc).toEqual({
      ok: true,
      runsApi: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      state: join(state, 'sandbox-seed-1'),
    });
    const res = await fetch(`${doc.runsApi}/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'sp-api' }),
    });
    expect(res.status).toBe(202);
    // The state directory is held while the API serves, and let go when it stops.
    expect(existsSync(`${doc.state}.lock`)).toBe(true);
    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    expect(code, err).toBe(0);
    expect(out).toBe(first);
    expect(existsSync(`${doc.state}.lock`)).toBe(false);
    // --verbose: the runs API's own log line went to stderr.
    expect(err).toMatch(/"service":"runs-api"/);
  }, 120_000);
});
