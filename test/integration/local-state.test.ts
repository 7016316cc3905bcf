import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDynamoClient, localS3Client } from '../../infra/local/clients.ts';
import { sandboxConfig } from '../../infra/local/sandbox-config.ts';
import { startLocalStack } from '../../infra/local/stack.ts';
import { openStateDir, StateDirBusyError } from '../../infra/local/state-dir.ts';
import { amazonAdsSimulator } from '../../infra/sandbox/amazon-ads/index.ts';
import { type Sandbox, startSandbox } from '../../infra/sandbox/index.ts';
import { spApiSimulator } from '../../infra/sandbox/sp-api/index.ts';
import { DynamoStateStore, type RunRecord } from '../../shared/aws/state-store.ts';
import { parseConfig } from '../../shared/config/load.ts';

/**
 * A state directory keeps the state table and the bucket between stacks: a second run of one window
 * against the same provider endpoint (one sandbox, as a real API would be) finds the export and the
 * billing statement the first one made instead of creating them again.
 */

const TODAY = new Date().toISOString().slice(0, 10);
const WINDOW = { from: '2000-01-01', to: TODAY };
const ENV = {
  POWERTOOLS_LOG_LEVEL: 'ERROR',
  POWERTOOLS_METRICS_DISABLED: 'true',
  POLL_FIRST_DELAY_SECONDS: '1',
  POLL_FACTOR: '1',
  POLL_MAX_DELAY_SECONDS: '2',
};

const config = parseConfig({
  connections: [
    {
      id: 'ads-main',
      provider: 'amazon-ads',
      region: 'NA',
      secretName: 'test/amazon-ads/ads-main',
      scopes: 'discover',
      schedule: 'rate(1 day)',
      lookbackDays: 30,
      globalAccountId: 'amzn1.ads-account.g.sandbox0001',
      locale: 'en_US',
    },
    {
      id: 'sp-main',
      provider: 'sp-api',
      region: 'NA',
      secretName: 'test/sp-api/sp-main',
      scopes: ['A2Q3Y263D00KWC'],
      schedule: 'rate(1 day)',
      lookbackDays: 30,
    },
  ],
});

describe('local state kept in a directory', () => {
  let dir: string;
  let sandbox: Sandbox;
  const calls = (simulator: string, operation: string) =>
    (sandbox.stats()[simulator] as { operations: Record<string, { requests: number }> }).operations[operation]
      ?.requests ?? 0;

  /** One `npm start`-like run of both connections over WINDOW, on a stack of its own over `stateDir`. */
  const runOnce = async (stateDir: string) => {
    const local = await sandboxConfig(config, sandbox);
    const state = openStateDir(stateDir);
    const stack = await startLocalStack({
      config: local.config,
      configPath: local.path,
      secrets: local.secrets,
      stateDir: state.dir,
      functions: (
        ['amazon-ads-invoices', 'amazon-ads-billing-statements', 'sp-api-invoices', 'export-poller'] as const
      ).map((name) => ({ name, env: ENV })),
      visibilityTimeoutSeconds: 2,
      functionOutput: 'ignore',
      quiet: true,
    });
    const s3 = localS3Client(stack.env);
    const store = new DynamoStateStore(
      DynamoDBDocumentClient.from(localDynamoClient(stack.env)),
      stack.table,
    );
    try {
      const runIds = { ads: `test-${randomUUID()}`, sp: `test-${randomUUID()}` };
      const message = { v: 1, type: 'run', window: WINDOW };
      await stack.send('amazon-ads-billing-statements', {
        ...message,
        runId: runIds.ads,
        provider: 'amazon-ads',
        connection: 'ads-main',
        job: 'billing-statements',
      });
      await stack.send('sp-api-invoices', {
        ...message,
        runId: runIds.sp,
        provider: 'sp-api',
        connection: 'sp-main',
      });
      await stack.waitForIdle({ timeoutMs: 240_000 });
      const runs: Record<string, RunRecord | undefined> = {
        ads: await store.getRun(runIds.ads),
        sp: await store.getRun(runIds.sp),
      };
      const keys = (
        await s3.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: 'reports/' }))
      ).Contents?.map((o) => o.Key);
      return { runs, reports: keys ?? [], reused: state.reused };
    } finally {
      s3.destroy();
      await stack.close();
      state.release();
      rmSync(join(local.path, '..'), { recursive: true, force: true });
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'local-state-test-'));
    sandbox = await startSandbox({
      seed: 21,
      timeScale: 60,
      size: 0.1,
      simulators: [amazonAdsSimulator, spApiSimulator],
      options: { 'amazon-ads': { statementSeconds: 60 } },
      connections: config.connections,
      log: () => {},
    });
  });

  afterAll(async () => {
    await sandbox?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a rerun of a window finds the export and the statement of the first run, and makes neither again', async () => {
    const kept = join(dir, 'kept');
    const first = await runOnce(kept);
    expect(first.reused).toBe(false);
    expect(first.runs.ads?.status).toBe('SUCCEEDED');
    expect(first.runs.sp?.status).toBe('SUCCEEDED');
    expect(first.runs.ads?.connections['ads-main']?.reports).toBe(1);
    expect(calls('amazon-ads', 'CreateBillingStatement')).toBe(1);
    expect(calls('sp-api', 'createInvoicesExport')).toBe(1);
    expect(first.reports).toHaveLength(1);

    const second = await runOnce(kept);
    expect(second.reused).toBe(true);
    expect(second.runs.ads?.status).toBe('SUCCEEDED');
    expect(second.runs.sp?.status).toBe('SUCCEEDED');
    expect(calls('amazon-ads', 'CreateBillingStatement')).toBe(1);
    expect(calls('sp-api', 'createInvoicesExport')).toBe(1);
    // Nothing copied again, and the bucket still holds what the first run landed.
    expect(second.runs.ads?.connections['ads-main']?.reports ?? 0).toBe(0);
    expect(second.reports).toEqual(first.reports);

    // A billing statement cannot be looked up at the provider: only the kept state saved the second one.
    const fresh = await runOnce(join(dir, 'fresh'));
    expect(fresh.reused).toBe(false);
    expect(calls('amazon-ads', 'CreateBillingStatement')).toBe(2);
  }, 600_000);

  it('is held by one process at a time: a live holder is named, a dead one is taken over', () => {
    const path = join(dir, 'locked');
    writeFileSync(`${path}.lock`, String(process.ppid));
    expect(() => openStateDir(path)).toThrow(StateDirBusyError);
    expect(() => openStateDir(path)).toThrow(`is in use by process ${process.ppid}`);

    // A pid above the kernel's limit (pid_max is at most 2^22) is never alive.
    writeFileSync(`${path}.lock`, String(2 ** 22 + 1));
    const held = openStateDir(path);
    expect(() => openStateDir(path)).toThrow(`is in use by process ${process.pid} (this one)`);
    held.release();
    openStateDir(path).release();
  });
});
