import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCliOptions, UsageError } from '../../../infra/local/cli-options.ts';
import { FUNCTION_SETTINGS, sandboxSettings } from '../../../infra/local/function-settings.ts';
import { REPO_ROOT } from '../../../infra/local/stack.ts';

/** `npm start -- --set NAME=value --env-file <file>`: the functions' settings for a local run. */

const dir = mkdtempSync(join(tmpdir(), 'function-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const parse = (...argv: string[]) => parseCliOptions(argv);
const usage = (...argv: string[]): string => {
  try {
    parse(...argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`no usage error for ${argv.join(' ')}`);
};

describe('npm start --set and --env-file', () => {
  it('passes each setting as given, the env file first and --set over it', () => {
    const file = join(dir, 'poll.env');
    writeFileSync(
      file,
      '# a live run: check a fast export sooner\nPOLL_FIRST_DELAY_SECONDS=5\nPOLL_FACTOR="1.2"\n\nHTTP_DEFER_THRESHOLD_MS=2000\n',
    );
    expect(
      parse(
        '--env-file',
        file,
        '--set',
        'POLL_FIRST_DELAY_SECONDS=2',
        '--set',
        'EXTRA_DOWNLOAD_HOSTS=reports.example.com, cdn.example.com',
      ).settings,
    ).toEqual({
      POLL_FIRST_DELAY_SECONDS: '2',
      POLL_FACTOR: '1.2',
      HTTP_DEFER_THRESHOLD_MS: '2000',
      EXTRA_DOWNLOAD_HOSTS: 'reports.example.com, cdn.example.com',
    });
    expect(parse().settings).toEqual({});
  });

  it('refuses an unknown name, listing the known ones, and a value the function would not read', () => {
    expect(usage('--set', 'POLL_FIRST_DELAY=5')).toMatch(
      /^--set: "POLL_FIRST_DELAY" is not a function setting \(one of HTTP_DEFER_THRESHOLD_MS, MAX_CONTINUATIONS, MAX_MESSAGE_AGE_HOURS, POLL_FIRST_DELAY_SECONDS, /,
    );
    expect(usage('--set', 'POLL_FACTOR=fast')).toBe('--set: POLL_FACTOR=fast: expected a number >= 1');
    expect(usage('--set', 'POLL_FACTOR=0.5')).toBe('--set: POLL_FACTOR=0.5: expected a number >= 1');
    expect(usage('--set', 'SP_API_ZIP_MAX_ENTRIES=1.5')).toBe(
      '--set: SP_API_ZIP_MAX_ENTRIES=1.5: expected a whole number >= 1',
    );
    expect(usage('--set', 'HTTP_DEFER_THRESHOLD_MS=')).toBe(
      '--set: HTTP_DEFER_THRESHOLD_MS=: expected a number >= 0',
    );
    expect(usage('--set', 'EXTRA_DOWNLOAD_HOSTS=https://x.example.com')).toMatch(/expected host names/);
    expect(usage('--set', 'POWERTOOLS_LOG_LEVEL=LOUD')).toMatch(/expected one of TRACE, DEBUG, INFO/);
    expect(usage('--set', 'POLL_FACTOR')).toBe('--set POLL_FACTOR: expected NAME=value');
    expect(usage('--set', 'RATE_PLAN_SCALE=0')).toBe('--set: RATE_PLAN_SCALE=0: expected a number above 0');
  });

  it('starts a sandbox run from settings the functions read, its rate plans at the --time-scale', () => {
    const settings = sandboxSettings(30);
    expect(settings.RATE_PLAN_SCALE).toBe('30');
    for (const [name, value] of Object.entries(settings)) {
      expect(FUNCTION_SETTINGS[name]?.check(value), `${name}=${value}`).toBeUndefined();
    }
  });

  it('scales the rate plans for the sandbox only: refused with --live', () => {
    expect(parse('--set', 'RATE_PLAN_SCALE=60').settings).toEqual({ RATE_PLAN_SCALE: '60' });
    expect(usage('--live', '--set', 'RATE_PLAN_SCALE=60')).toBe(
      '--set RATE_PLAN_SCALE=60 is for the sandbox, not --live',
    );
    expect(parse('--live', '--set', 'RATE_PLAN_SCALE=1').settings).toEqual({ RATE_PLAN_SCALE: '1' });
  });

  it('names the env file and the line that is wrong, and a file that is not there', () => {
    const file = join(dir, 'typo.env');
    writeFileSync(file, 'POLL_MAX_DELAY_SECONDS=60\nPOL_FACTOR=2\n');
    expect(usage('--env-file', file)).toMatch(
      new RegExp(`^--env-file ${file}: "POL_FACTOR" is not a function setting`),
    );
    expect(usage('--env-file', join(dir, 'none.env'))).toBe(
      `--env-file ${join(dir, 'none.env')}: no such file`,
    );
  });

  it('README "Function settings" documents exactly the settings --set takes', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Function settings'));
    const table = section.slice(0, section.indexOf('\n## '));
    const documented = [...table.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]);
    expect(new Set(documented)).toEqual(new Set(Object.keys(FUNCTION_SETTINGS)));
  });
});

describe('npm start --state and --fresh', () => {
  it('keeps state in .local/state unless told otherwise, and starts over only when asked', () => {
    expect(parse()).toMatchObject({ state: '.local/state', fresh: false });
    expect(parse('--state', join(dir, 's'), '--fresh')).toMatchObject({ state: join(dir, 's'), fresh: true });
  });
});
