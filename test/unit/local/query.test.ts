import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatResultTable } from '../../../infra/local/format-result-table.ts';
import { parseQueryOptions } from '../../../infra/local/query-options.ts';
import { REPO_ROOT } from '../../../infra/local/stack.ts';
import { READY_ANSWERS } from '../../../shared/invoice/ready-answers.ts';
import { invoiceLine, writeMonthFile } from '../../helpers/month-files.ts';

// `npm run query` as a child process over a mirror in a temp dir: its stdout, stderr and exit code.

const run$ = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'query-cli-'));
const out = join(dir, 'mirror');

async function query(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run$(
      process.execPath,
      ['--import', 'tsx', 'infra/local/query.ts', ...args],
      {
        cwd: REPO_ROOT,
        timeout: 60_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(() => {
  writeMonthFile(out, '2026-01', [
    invoiceLine({ invoiceId: 'C1', total: '1234567890123.456789' }),
    invoiceLine({ invoiceId: 'C2', total: '5.10' }),
  ]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run query', () => {
  it('prints the ready answers as aligned tables with no SQL given', async () => {
    const r = await query(['--out', out]);
    expect(r.code).toBe(0);
    for (const answer of READY_ANSWERS) expect(r.stdout).toContain(answer.title);
    expect(r.stdout).toMatch(/^cm360 +USD +2026-01 +2 +0 .* 1234567890128\.556789$/m);
  });

  it('prints rows as JSON with exact decimals', async () => {
    const r = await query([
      '--out',
      out,
      '--json',
      "SELECT invoiceid, total, issuedon FROM invoices_latest WHERE invoiceid = 'C1'",
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      { invoiceid: 'C1', total: '1234567890123.456789', issuedon: '2026-01-15' },
    ]);
  });

  it("exits 1 with DuckDB's error on bad SQL", async () => {
    const r = await query(['--out', out, 'SELECT nope FROM invoices']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Binder Error/);
    expect(r.stdout).toBe('');
  });

  it('exits 2 naming the mirror when there is nothing to query', async () => {
    const r = await query(['--out', join(dir, 'absent')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no mirror at ${join(dir, 'absent')}`);
  });
});

describe('query options', () => {
  it('takes one SQL argument, --out and --json', () => {
    expect(parseQueryOptions([])).toEqual({ out: 'out', json: false, help: false });
    expect(parseQueryOptions(['--out', 'x', '--json', ' SELECT 1 '])).toEqual({
      sql: 'SELECT 1',
      out: 'x',
      json: true,
      help: false,
    });
  });

  it('refuses a second argument (unquoted SQL) and an empty one', () => {
    expect(() => parseQueryOptions(['SELECT', '1'])).toThrow(
      /one SQL argument, got 2: put the SQL in quotes/,
    );
    expect(() => parseQueryOptions([''])).toThrow(/empty/);
    expect(() => parseQueryOptions(['--nope'])).toThrow(/--nope/);
  });
});

describe('result tables', () => {
  it('aligns figures right and text left, spells NULL, writes nested values as JSON, counts rows', () => {
    const text = formatResultTable({
      columns: ['provider', 'total', 'period'],
      types: ['VARCHAR', 'DECIMAL(38,6)', 'STRUCT("from" DATE)'],
      rows: [
        ['cm360', '12.500000', { from: '2026-01-01' }],
        ['sp-api', null, null],
      ],
    });
    expect(text.split('\n')).toEqual([
      'provider      total  period',
      '--------  ---------  ---------------------',
      'cm360     12.500000  {"from":"2026-01-01"}',
      'sp-api         NULL  NULL',
      '(2 rows)',
    ]);
  });
});
