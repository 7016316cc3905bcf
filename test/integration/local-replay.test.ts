import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type CliSummaryRow,
  filesByName,
  maskLinks,
  runCli,
  withoutFetchedAt,
  withoutRunIds,
} from '../helpers/cli-run.ts';

/**
 * `npm start -- --seed --clock --faults` twice (each with fresh state): the same objects land, byte for byte, but for what
 * belongs to the run and not to the data. That is each normalized line's fetchedAt, and the
 * pre-signed links inside Amazon Ads' raw invoice details (the simulator's 127.0.0.1 port and the
 * links' signing time, which is the simulated time the detail was fetched at, hence real timing).
 */

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
    const start = (out: string, ...extra: string[]) =>
      runCli([
        ...['--config', config, '--faults', faults, '--seed', '5', '--clock', CLOCK],
        ...['--out', join(dir, out), '--state', join(dir, `state-${out}`), ...extra],
      ]);
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
    const data = (rows: CliSummaryRow[]) =>
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

    // A run's reconciliation file is named by its run id, which is new on every run.
    const [inA, inB] = [await filesByName(join(dir, 'a')), await filesByName(join(dir, 'b'))];
    const listed = [...inA.keys()];
    expect([...inB.keys()]).toEqual(listed);
    expect(listed.filter((f) => f.startsWith('reconciliation/')).length).toBe(a.rows.length);
    expect(listed.filter((f) => f.startsWith('invoices/')).length).toBeGreaterThan(0);
    expect(listed.filter((f) => f.startsWith('documents/sp-api/')).length).toBeGreaterThan(0);
    expect(listed.filter((f) => f.startsWith('reports/amazon-ads/')).length).toBe(1);

    let masked = 0;
    for (const file of listed) {
      const [x, y] = await Promise.all([
        readFile(join(dir, 'a', inA.get(file)!)),
        readFile(join(dir, 'b', inB.get(file)!)),
      ]);
      if (file.startsWith('reconciliation/')) {
        expect(withoutRunIds(y.toString('utf8')), file).toBe(withoutRunIds(x.toString('utf8')));
        expect(x.toString('utf8')).toMatch(/"record":"summary".*"gaps":0,/);
      } else if (file.startsWith('invoices/')) {
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
