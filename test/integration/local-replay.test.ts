import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/local/stack.ts';

/**
 * `npm start -- --seed --clock --faults` twice (each with fresh state): the same objects land, byte for byte, but for what
 * belongs to the run and not to the data. That is each normalized line's fetchedAt, and the
 * pre-signed links inside Amazon Ads' raw invoice details (the simulator's 127.0.0.1 port and the
 * links' signing time, which is the simulated time the detail was fetched at, hence real timing).
 */

const run$ = promisify(execFile);

const CLOCK = '2026-03-01T00:00:00Z';

const CONFIG = {
  providers: { 'amazon-ads': { maxConcurrency: 2 }, 'sp-api': { maxConcurrency: 2 } },
  connections: [
    {
      id: 'ads-na',
      provider: 'amazon-ads',
      region: 'NA',
      secretName: 'invoice-ingest/ads-na',
      scopes: 'discover',
      schedule: 'cron(0 5 * * ? *)',
      lookbackDays: 15,
      globalAccountId: 'amzn1.ads-account.g.example',
      locale: 'en_US',
      countryCodes: ['US', 'CA'],
    },
    {
      id: 'sp-br',
      provider: 'sp-api',
      region: 'NA',
      secretName: 'invoice-ingest/sp-br',
      scopes: ['A2Q3Y263D00KWC'],
      schedule: 'cron(30 5 * * ? *)',
      lookbackDays: 15,
      pageSize: 100,
    },
  ],
};

const FAULTS = {
  '*': { serverErrorRate: 0.25, expiredUrlRate: 0.3, latencyMs: { min: 0, max: 20 } },
  lwa: { serverErrorRate: 0.3 },
};

interface Summary {
  ok: boolean;
  rows: SummaryRow[];
  state?: { dir: string; reused: boolean };
  timing?: { fixedCostMs: number; startupMs: number; coldStarts: number; coldStartMs: number };
}

interface SummaryRow {
  connection: string;
  status: string;
  runId?: string;
  invoices: number;
  documents: number;
  reports: number;
  bytes: number;
  retries: number;
  failures: number;
}

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/** A pre-signed link with its host's port and its signing time and signature masked. */
const maskLinks = (text: string) =>
  text
    .replace(/http:\/\/127\.0\.0\.1:\d+/g, 'http://127.0.0.1:<port>')
    .replace(/(X-Amz-(?:Date|Signature)=)[^&"]+/g, '$1<masked>');

const withoutFetchedAt = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const { fetchedAt, ...rest } = JSON.parse(l) as Record<string, unknown>;
      expect(fetchedAt).toEqual(expect.any(String));
      return JSON.stringify(rest);
    })
    .join('\n');

describe('npm start with one seed and clock, twice', () => {
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lands the same objects, fetch times and pre-signed links aside, faults included', async () => {
    dir = await mkdtemp(join(tmpdir(), 'invoice-ingest-replay-'));
    const config = join(dir, 'connections.json');
    const faults = join(dir, 'faults.json');
    await writeFile(config, JSON.stringify(CONFIG));
    await writeFile(faults, JSON.stringify(FAULTS));

    // Each run with a state directory of its own: a kept state would let the second reuse the first's
    // exports. The second also with --verbose: its stdout must still be the one JSON document.
    const start = async (out: string, ...extra: string[]) => {
      const { stdout, stderr } = await run$(
        process.execPath,
        [
          '--openssl-legacy-provider',
          '--import',
          'tsx',
          'infra/local/cli.ts',
          ...['--config', config, '--faults', faults, '--seed', '5', '--clock', CLOCK],
          ...['--out', join(dir, out), '--state', join(dir, `state-${out}`), '--json', ...extra],
        ],
        { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024, timeout: 150_000 },
      );
      return { ...(JSON.parse(stdout) as Summary), stderr };
    };
    // One after the other: two stacks at once would share two cores with the tests around them.
    const a = await start('a', '--quiet');
    const b = await start('b', '--verbose');

    // The functions' own log lines (Powertools JSON) went to stderr; the summary carries the fixed cost.
    expect(b.stderr).toMatch(/"service":"sp-api-invoices"/);
    expect(a.state).toEqual({ dir: join(dir, 'state-a', 'sandbox-seed-5'), reused: false });
    for (const s of [a, b]) {
      expect(s.timing?.fixedCostMs).toBe((s.timing?.startupMs ?? 0) + (s.timing?.coldStartMs ?? 0));
      expect(s.timing?.coldStarts).toBeGreaterThan(0);
    }

    expect(a.ok).toBe(true);
    const data = (rows: SummaryRow[]) =>
      rows.map(({ connection, status, invoices, documents, reports, bytes, failures }) => ({
        connection,
        status,
        invoices,
        documents,
        reports,
        bytes,
        failures,
      }));
    expect(data(b.rows)).toEqual(data(a.rows));
    // The faults were met and retried through, in both runs.
    for (const row of [...a.rows, ...b.rows]) expect(row.retries).toBeGreaterThan(0);

    const listed = await files(join(dir, 'a'));
    expect(await files(join(dir, 'b'))).toEqual(listed);
    expect(listed.filter((f) => f.startsWith('invoices/')).length).toBeGreaterThan(0);
    expect(listed.filter((f) => f.startsWith('documents/sp-api/')).length).toBeGreaterThan(0);
    expect(listed.filter((f) => f.startsWith('reports/amazon-ads/')).length).toBe(1);

    let masked = 0;
    for (const file of listed) {
      const [x, y] = await Promise.all([readFile(join(dir, 'a', file)), readFile(join(dir, 'b', file))]);
      if (file.startsWith('invoices/')) {
        expect(withoutFetchedAt(y.toString('utf8')), file).toBe(withoutFetchedAt(x.toString('utf8')));
      } else if (file.startsWith('raw/amazon-ads/') && x.includes('X-Amz-Signature=')) {
        masked++;
        expect(maskLinks(y.toString('utf8')), file).toBe(maskLinks(x.toString('utf8')));
      } else {
        expect(y.equals(x), `${file} differs`).toBe(true);
      }
    }
    // Only raw details of government invoices carry links; everything else was compared whole.
    expect(masked).toBeLessThan(listed.length / 4);
  }, 360_000);
});
