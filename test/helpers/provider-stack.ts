import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { request } from 'undici';
import { expect } from 'vitest';
import { localDynamoClient, localS3Client } from '../../infra/local/clients.ts';
import { sandboxConfig } from '../../infra/local/sandbox-config.ts';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.ts';
import { type Sandbox, type SandboxOptions, startSandbox } from '../../infra/sandbox/index.ts';
import type { QueueFedFunction } from '../../shared/aws/resources.ts';
import { DynamoStateStore, type RunRecord } from '../../shared/aws/state-store.ts';
import type { Config } from '../../shared/config/schema.ts';

/**
 * A provider's simulator plus the local stack running the provider's real handlers against it, as
 * `npm start` wires them: the config pointed at the sandbox, its minted secrets served locally.
 */
export interface ProviderStack {
  sandbox: Sandbox;
  stack: LocalStack;
  s3: S3Client;
  state: DynamoStateStore;
  close(): Promise<void>;
}

/** Quiet functions, and polls that come back within a second or two. */
const TEST_ENV = {
  POWERTOOLS_LOG_LEVEL: 'ERROR',
  POWERTOOLS_METRICS_DISABLED: 'true',
  POLL_FIRST_DELAY_SECONDS: '1',
  POLL_FACTOR: '1',
  POLL_MAX_DELAY_SECONDS: '2',
};

export async function startProviderStack(options: {
  config: Config;
  sandbox: Omit<SandboxOptions, 'connections' | 'log'>;
  functions: ReadonlyArray<QueueFedFunction['name']>;
  env?: Record<string, string>;
  /**
   * The functions' rate plans at the sandbox's time scale, as `npm start` runs them (RATE_PLAN_SCALE); left
   * out, the real plans (the benchmarks, whose Lambda time the cost model bills).
   */
  ratePlansAtTimeScale?: boolean;
}): Promise<ProviderStack> {
  const sandbox = await startSandbox({
    ...options.sandbox,
    connections: options.config.connections,
    log: () => {},
  });
  const local = await sandboxConfig(options.config, sandbox);
  const env = {
    ...TEST_ENV,
    ...(options.ratePlansAtTimeScale ? { RATE_PLAN_SCALE: String(sandbox.clock.timeScale) } : {}),
    ...options.env,
  };
  const stack = await startLocalStack({
    config: local.config,
    configPath: local.path,
    secrets: local.secrets,
    functions: options.functions.map((name) => ({ name, env })),
    visibilityTimeoutSeconds: 2,
    functionOutput: 'ignore',
    quiet: true,
  });
  const s3 = localS3Client(stack.env);
  const state = new DynamoStateStore(
    DynamoDBDocumentClient.from(localDynamoClient(stack.env), {
      marshallOptions: { removeUndefinedValues: true },
    }),
    stack.table,
  );
  return {
    sandbox,
    stack,
    s3,
    state,
    close: async () => {
      s3.destroy();
      await stack.close();
      await sandbox.close();
      rmSync(dirname(local.path), { recursive: true, force: true });
    },
  };
}

/**
 * The bucket's keys after a rerun that should have written nothing new: the keys before, plus the
 * rerun's own reconciliation file per connection (a run's control totals are a file of their own).
 */
export function keysAfterRerun(before: readonly string[], rerun: RunRecord): string[] {
  const reconciled = Object.values(rerun.reconciliations ?? {}).map((r) => r.key);
  expect(reconciled.length).toBeGreaterThan(0);
  return [...before, ...reconciled].sort();
}

/**
 * A simulator's admin API (`<base>/__sandbox/...`, the base read when called: it is known once the stack
 * is up): its JSON answer, or an error naming the call. `readText` turns the answer's text into JSON first
 * where a number must stay exact (Amazon Ads' amounts).
 */
export function simulatorAdmin(base: () => string, readText: (text: string) => string = (t) => t) {
  return async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    const res = await request(`${base()}/__sandbox${path}`, {
      method,
      ...(body !== undefined
        ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }
        : {}),
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`admin ${method} ${path}: ${res.statusCode} ${text}`);
    return JSON.parse(readText(text)) as T;
  };
}
