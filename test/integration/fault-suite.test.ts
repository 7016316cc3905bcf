import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  diagnosis,
  filesByName,
  maskLinks,
  runCli,
  withoutFetchedAt,
  withoutRunIds,
} from '../helpers/cli-run.ts';

/**
 * Every provider against its simulator, clean and then with every request fault at once (5xx, resets,
 * bodies cut short, expired links, 429 bursts, latency): what the clean run lands, the faulted run lands
 * too, byte for byte, nothing twice, and both runs end SUCCEEDED. The example config's four connections,
 * one seed and one clock, a state directory each (a shared one would let the second reuse the first's
 * exports).
 */

const CLOCK = '2026-03-01T00:00:00Z';

const FAULTS = {
  '*': {
    serverErrorRate: 0.15,
    resetRate: 0.15,
    truncateRate: 0.15,
    expiredUrlRate: 0.15,
    throttleBurst: { every: 12, length: 2, retryAfterSeconds: 1 },
    latencyMs: { min: 0, max: 10 },
  },
};

// Run by `npm run test:faults` (about 2 minutes), not by `npm test`: on a loaded machine a faulted run has
// ended short of SUCCEEDED (1 of 4 CI runs on Node 24), and why is not found yet (issue 10 stays open).
describe.skipIf(!process.env.FAULT_SUITE)('fault suite: every provider, every request fault at once', () => {
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lands what the clean run lands, byte for byte, nothing twice, and every run SUCCEEDS', async () => {
    dir = await mkdtemp(join(tmpdir(), 'invoice-ingest-faults-'));
    const faults = join(dir, 'faults.json');
    await writeFile(faults, JSON.stringify(FAULTS));
    const start = (out: string, ...extra: string[]) =>
      runCli(
        [
          '--seed',
          '3',
          '--clock',
          CLOCK,
          '--out',
          join(dir, out),
          '--state',
          join(dir, `state-${out}`),
          // The functions' warnings and errors on stderr: a run that ends short says why (diagnosis).
          '--set',
          'POWERTOOLS_LOG_LEVEL=WARN',
          ...extra,
        ],
        300_000,
      );
    const clean = await start('clean');
    expect(clean.ok, diagnosis(clean)).toBe(true);
    const faulted = await start('faulted', '--faults', faults);
    expect(faulted.ok, diagnosis(faulted)).toBe(true);
    expect(
      faulted.rows.map((r) => r.status),
      diagnosis(faulted),
    ).toEqual(faulted.rows.map(() => 'SUCCEEDED'));
    const landed = (rows: typeof clean.rows) =>
      rows.map(({ connection, invoices, documents, reports }) => ({
        connection,
        invoices,
        documents,
        reports,
      }));
    expect(landed(faulted.rows)).toEqual(landed(clean.rows));
    // The faults were met and retried through. SP-API's run makes a dozen requests or so (its listing pages
    // hold 100 invoices), so a 15% share may miss it in one seed: the count is asserted where requests are many.
    for (const row of faulted.rows.filter((r) => r.connection !== 'sp-br')) {
      expect(row.retries, row.connection).toBeGreaterThan(0);
    }

    const [inClean, inFaulted] = [
      await filesByName(join(dir, 'clean')),
      await filesByName(join(dir, 'faulted')),
    ];
    const listed = [...inClean.keys()];
    expect([...inFaulted.keys()]).toEqual(listed);
    for (const prefix of ['amazon-ads', 'amazon-business', 'sp-api', 'cm360']) {
      expect(
        listed.some((f) => f.startsWith(`invoices/provider=${prefix}/`)),
        prefix,
      ).toBe(true);
    }
    for (const file of listed) {
      const [x, y] = await Promise.all([
        readFile(join(dir, 'clean', inClean.get(file)!)),
        readFile(join(dir, 'faulted', inFaulted.get(file)!)),
      ]);
      if (file.startsWith('reconciliation/')) {
        // The faulted run's control totals are the clean run's: the same invoices, money and no gap.
        expect(withoutRunIds(y.toString('utf8')), file).toBe(withoutRunIds(x.toString('utf8')));
        expect(x.toString('utf8')).toMatch(/"record":"summary".*"gaps":0,/);
      } else if (file.startsWith('invoices/')) {
        const lines = withoutFetchedAt(y.toString('utf8'));
        expect(lines, file).toBe(withoutFetchedAt(x.toString('utf8')));
        const ids = lines.split('\n').map((l) => (JSON.parse(l) as { invoiceId: string }).invoiceId);
        expect(new Set(ids).size, `${file}: an invoice twice`).toBe(ids.length);
      } else if (
        file.startsWith('documents/') ||
        file.startsWith('reports/') ||
        file.startsWith('exports/')
      ) {
        expect(y.equals(x), `${file} differs`).toBe(true);
      } else if (file.startsWith('raw/')) {
        expect(maskLinks(y.toString('utf8')), file).toBe(maskLinks(x.toString('utf8')));
      }
    }
  }, 660_000);
});
