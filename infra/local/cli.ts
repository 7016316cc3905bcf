import { readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { QUEUE_FED_FUNCTIONS, runJobsOf } from '../../shared/aws/resources.ts';
import { DynamoStateStore, type RunRecord } from '../../shared/aws/state-store.ts';
import { ConfigError, defaultConfigPath, loadConfig } from '../../shared/config/load.ts';
import type { Config, Connection, ProviderId } from '../../shared/config/schema.ts';
import { SqsJobQueue } from '../../shared/jobs/queue.ts';
import type { PendingDocument } from '../../shared/providers/types.ts';
import type { ReconcileReport } from '../../shared/runtime/reconcile-runs.ts';
import { RunRequestError, resolveRunRequest, startRun } from '../../shared/runtime/runs.ts';
import { type FaultConfigInput, parseFaultConfig } from '../sandbox/framework/faults.ts';
import { startSandbox } from '../sandbox/index.ts';
import { SIMULATORS } from '../sandbox/simulators.ts';
import { type CliOptions, parseCliOptions, USAGE, UsageError } from './cli-options.ts';
import { localDynamoClient, localSqsClient } from './clients.ts';
import { describeRunCompleted } from './consumer.ts';
import { sandboxSettings } from './function-settings.ts';
import { startProgress } from './progress.ts';
import { scheduleReconciler } from './reconciler-schedule.ts';
import { liveSecrets, pinnedRuns, sandboxConfig } from './sandbox-config.ts';
import { serveRunsApi } from './serve.ts';
import { LOCAL_SIMULATOR_OPTIONS } from './simulator-defaults.ts';
import { type LocalFunctionSpec, startLocalStack } from './stack.ts';
import { openStateDir, StateDirBusyError } from './state-dir.ts';
import { buildSummary, formatReconciled, formatSummary } from './summary.ts';

function implemented(provider: ProviderId, job?: string): boolean {
  const fn = QUEUE_FED_FUNCTIONS.find((f) => f.provider === provider && f.job === job);
  return Boolean(fn?.implemented);
}

/** The connections this invocation runs, checked against the options before anything starts. */
function selectConnections(config: Config, options: CliOptions): Connection[] {
  if (options.connection) {
    const c = config.connections.find((x) => x.id === options.connection);
    if (!c) {
      throw new UsageError(
        `--connection: no connection "${options.connection}" in the config (${config.connections.map((x) => x.id).join(', ')})`,
      );
    }
    if (options.provider && c.provider !== options.provider) {
      throw new UsageError(`--connection: "${c.id}" is a ${c.provider} connection, not ${options.provider}`);
    }
    return [c];
  }
  const selected = config.connections.filter(
    (c) => c.enabled && (!options.provider || c.provider === options.provider),
  );
  if (!selected.length)
    throw new UsageError(
      `no enabled connection${options.provider ? ` for ${options.provider}` : ''} in the config`,
    );
  return selected;
}

/** Milliseconds since this process started (node's own start, before any module loaded). */
const sinceProcessStart = () => Math.round(Date.now() - performance.timeOrigin);

/** Lambda runs Node 24; on a Node 20 laptop the SDK's upgrade notice is noise between progress lines. */
const QUIET_SDK = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

/** A JSON file an option names, parsed; one it cannot read is an option error naming both. */
async function readJsonOption(option: string, file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${option} ${file}: ${(err as Error).message}`);
  }
}

/** The sandbox's fault injection from a JSON file; a bad file or value is an option error naming it. */
async function readFaults(file: string): Promise<Record<string, FaultConfigInput>> {
  const raw = await readJsonOption('--faults', file);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UsageError(`--faults ${file}: expected an object of simulator name -> fault settings`);
  }
  for (const [name, config] of Object.entries(raw)) {
    try {
      parseFaultConfig(config, `faults.${name}`);
    } catch (err) {
      throw new UsageError(`--faults ${file}: ${(err as Error).message}`);
    }
  }
  return raw as Record<string, FaultConfigInput>;
}

/**
 * Simulator settings from a JSON file, over npm start's own (LOCAL_SIMULATOR_OPTIONS); each simulator
 * checks its own when it starts, and its error names the bad field.
 */
async function readSimulate(file: string): Promise<Record<string, Record<string, unknown>>> {
  const raw = await readJsonOption('--simulate', file);
  const isObject = (v: unknown) => !!v && typeof v === 'object' && !Array.isArray(v);
  if (!isObject(raw) || !Object.values(raw as object).every(isObject)) {
    throw new UsageError(`--simulate ${file}: expected an object of simulator name -> settings object`);
  }
  const names = SIMULATORS.map((f) => f.name);
  const unknown = Object.keys(raw as object).filter((n) => !names.includes(n));
  if (unknown.length) {
    throw new UsageError(
      `--simulate ${file}: no simulator "${unknown[0]}" (simulators: ${names.join(', ')})`,
    );
  }
  const merged: Record<string, Record<string, unknown>> = { ...LOCAL_SIMULATOR_OPTIONS };
  for (const [name, settings] of Object.entries(raw as Record<string, Record<string, unknown>>)) {
    merged[name] = { ...(merged[name] ?? {}), ...settings };
  }
  return merged;
}

async function main(argv: string[]): Promise<number> {
  Object.assign(process.env, QUIET_SDK);
  const options = parseCliOptions(argv);
  if (options.help) {
    process.stdout.write(options.json ? `${JSON.stringify({ usage: USAGE })}\n` : `${USAGE}\n`);
    return 0;
  }
  const configPath = resolve(options.config ?? defaultConfigPath());
  const userConfig = loadConfig(configPath);
  const connections = selectConnections(userConfig, options);
  for (const provider of new Set(connections.map((c) => c.provider))) {
    if (options.job && !runJobsOf(provider).some((f) => f.job === options.job)) {
      throw new UsageError(`--job: ${provider} has no job "${options.job}"`);
    }
  }
  const faults = options.faults ? await readFaults(options.faults) : undefined;
  const simulatorOptions = options.simulate ? await readSimulate(options.simulate) : LOCAL_SIMULATOR_OPTIONS;
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const secretsForLive = options.live
    ? await liveSecrets(resolve(options.secrets ?? 'config/secrets.local.json'), connections)
    : undefined;

  // Sandbox and live state never mix (a simulator's export id means nothing to the real API), nor do
  // two seeds' (each is its own set of provider data).
  const stateDir = openStateDir(join(options.state, options.live ? 'live' : `sandbox-seed-${options.seed}`), {
    fresh: options.fresh,
  });
  const cleanups: Array<() => Promise<void>> = [async () => stateDir.release()];
  say(
    `state: ${stateDir.dir}${stateDir.reused ? ' (kept from earlier runs; --fresh starts over)' : ' (new)'}`,
  );

  try {
    const sandbox = options.live
      ? undefined
      : await startSandbox({
          seed: options.seed,
          timeScale: options.timeScale,
          ...(options.clock ? { clock: options.clock } : {}),
          simulators: SIMULATORS,
          connections: userConfig.connections,
          options: simulatorOptions,
          ...(faults ? { faults } : {}),
          log: options.verbose ? say : () => {},
        }).catch((err: unknown) => {
          // A setting a simulator refused is the --simulate file's: say so, without a stack trace.
          if (options.simulate && /settings/.test((err as Error).message)) {
            throw new UsageError(`--simulate ${options.simulate}: ${(err as Error).message}`);
          }
          throw err;
        });
    if (sandbox) cleanups.push(() => sandbox.close());
    const local = sandbox ? await sandboxConfig(userConfig, sandbox) : undefined;
    if (local) cleanups.push(() => rm(resolve(local.path, '..'), { recursive: true, force: true }));
    const config = local?.config ?? userConfig;
    const functionEnv: Record<string, string> = {
      POWERTOOLS_LOG_LEVEL: options.verbose ? 'INFO' : 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'true',
      ...QUIET_SDK,
      ...(sandbox ? sandboxSettings(options.timeScale) : { ALLOW_LOOPBACK_DOWNLOADS: '0' }),
      ...options.settings,
    };
    const showFunctionLogs = options.verbose || 'POWERTOOLS_LOG_LEVEL' in options.settings;
    const functions: LocalFunctionSpec[] = QUEUE_FED_FUNCTIONS.map((f) => ({
      name: f.name,
      env: functionEnv,
    }));
    const stack = await startLocalStack({
      config,
      configPath: local?.path ?? configPath,
      secrets: local?.secrets ?? secretsForLive ?? {},
      functions,
      quiet: !options.verbose,
      // Function logs are log lines: stderr, so stdout holds only the summary (one JSON document with --json).
      functionOutput: showFunctionLogs ? 'stderr' : 'ignore',
      stateDir: stateDir.dir,
      log: say,
      runsApi: options.serve,
    });
    cleanups.push(() => stack.close());
    if (!options.verbose) {
      // The consumer prints them itself when verbose; on a terminal the progress line is cleared first.
      const clear = process.stderr.isTTY ? '\r\x1b[2K' : '';
      stack.consumer.on('run-completed', (e) => process.stderr.write(`${clear}${describeRunCompleted(e)}\n`));
    }
    say(
      `local stack up in ${(sinceProcessStart() / 1000).toFixed(1)} s: S3 ${stack.endpoints.s3}, SQS ${stack.endpoints.sqs}, DynamoDB ${stack.endpoints.dynamodb}${sandbox ? ', provider simulators' : ', live provider APIs'}`,
    );

    const ddb = DynamoDBDocumentClient.from(localDynamoClient(stack.env), {
      marshallOptions: { removeUndefinedValues: true },
    });
    const state = new DynamoStateStore(ddb, stack.table);
    const queue = new SqsJobQueue(localSqsClient(stack.env), stack.functionEnv['runs-api'], (m, n) =>
      state.addPending(m.runId, n),
    );

    if (options.serve) {
      const api = await serveRunsApi(stack, options.port, functionEnv);
      cleanups.push(() => api.close());
      const stopReconciler = scheduleReconciler(stack, functionEnv, (outcome) => {
        if (outcome instanceof Error) return say(`run reconciler failed: ${outcome.message}`);
        if (outcome.settled.length || outcome.deadMessages.length || outcome.stopped.length) {
          say(['run reconciler, on its schedule:', ...formatReconciled(outcome).slice(1)].join('\n'));
        }
      });
      cleanups.push(stopReconciler);
      // With --json, the one document comes now: what a script needs to call the API.
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ ok: true, runsApi: api.url, state: stateDir.dir })}\n`);
      }
      say(
        `runs API on ${api.url}: curl -X POST ${api.url}/runs -H 'content-type: application/json' -d '{"provider":"sp-api"}'; Ctrl-C stops`,
      );
      if (options.clock) {
        // The runs API dates a run by the real clock; only an explicit window matches the pinned data.
        const day = options.clock.slice(0, 10);
        say(
          `--clock: the simulators' data ends on ${day}; give each POST /runs "from" and "to" up to ${day}`,
        );
      }
      await new Promise<void>((done) => {
        process.once('SIGINT', () => done());
        process.once('SIGTERM', () => done());
      });
      return 0;
    }

    const runOf = new Map<string, string>();
    const notImplemented = new Set<string>();
    const providers = [...new Set(connections.map((c) => c.provider))];
    // With --clock, "today" is the pinned day: the simulators' data ends there, so must the windows.
    const today = options.clock ? new Date(options.clock) : new Date();
    const pinnedDay = options.clock?.slice(0, 10);
    for (const provider of providers) {
      const mine = connections.filter((c) => c.provider === provider);
      if (!implemented(provider, options.job)) {
        for (const c of mine) notImplemented.add(c.id);
        say(`${provider}: not implemented yet, skipped (${mine.map((c) => c.id).join(', ')})`);
        continue;
      }
      const request = {
        provider,
        ...(options.connection ? { connection: options.connection } : {}),
        ...(options.from ? { from: options.from } : {}),
        ...(options.to ? { to: options.to } : {}),
        ...(options.invoiceId ? { invoiceId: options.invoiceId } : {}),
        ...(options.job ? { job: options.job } : {}),
        ...(options.full ? { full: true } : {}),
      };
      const runs =
        pinnedDay && !options.from && !options.invoiceId
          ? pinnedRuns(mine, pinnedDay).map((p) => {
              const resolved = resolveRunRequest({ ...request, ...p.window }, config, today);
              const ids = new Set(p.connections.map((c) => c.id));
              return { ...resolved, connections: resolved.connections.filter((c) => ids.has(c.id)) };
            })
          : [resolveRunRequest(request, config, today)];
      for (const resolved of runs) {
        const { runId } = await startRun(resolved, { state, queue, source: 'local' });
        for (const c of resolved.connections) runOf.set(c.id, runId);
        const window = resolved.window ? ` (${resolved.window.from}..${resolved.window.to})` : '';
        say(`${provider}: run ${runId}${window} for ${resolved.connections.map((c) => c.id).join(', ')}`);
      }
    }

    const startupMs = sinceProcessStart();
    const stopProgress = startProgress(stack, !options.quiet && (!options.json || process.stderr.isTTY));
    try {
      await stack.waitForIdle({ timeoutMs: 30 * 60_000 });
    } finally {
      stopProgress();
    }

    const readRuns = async () => {
      const read = new Map<string, RunRecord | undefined>();
      for (const runId of new Set(runOf.values())) read.set(runId, await state.getRun(runId));
      return read;
    };
    let runs = await readRuns();
    let reconciled: ReconcileReport | undefined;
    if ([...runs.values()].some((r) => r?.status === 'RUNNING')) {
      // The queues are empty and no function runs, so nothing can move a run any more: the reconciler settles
      // what is still RUNNING at once (stale after 0 minutes) instead of after the hours it waits on AWS.
      say('a run is still RUNNING with every queue empty: running the run reconciler');
      reconciled = await stack.reconcile({ ...functionEnv, RUN_STALE_AFTER_MINUTES: '0' });
      await stack.waitForIdle({ timeoutMs: 60_000 });
      runs = await readRuns();
    }
    const dlq = (await stack.runner.dlqMessages()).map((m) => {
      let connection: string | undefined;
      try {
        connection = (JSON.parse(m.body) as { connection?: string }).connection;
      } catch {
        connection = undefined;
      }
      return { queue: m.queueId, ...(connection ? { connection } : {}), reason: m.reason };
    });
    const landed = Object.fromEntries(
      Object.entries(stack.consumer.counts()).map(([p, c]) => [p, c?.objects ?? 0]),
    );
    const pendingDocuments = new Map<string, PendingDocument[]>();
    for (const c of connections) {
      if (!notImplemented.has(c.id)) {
        pendingDocuments.set(c.id, await state.listPendingDocuments(c.provider, c.id));
      }
    }
    const summary = buildSummary({ connections, runs, runOf, notImplemented, dlq, landed, pendingDocuments });
    if (reconciled) summary.reconciled = reconciled;
    if (sandbox && faults) {
      summary.faults = Object.fromEntries(
        Object.entries(sandbox.stats()).map(([simulator, stats]) => [simulator, stats.faults.total]),
      );
    }
    summary.events = stack.consumer.runsCompleted().map(({ detail: d }) => ({
      runId: d.runId,
      outcome: d.outcome,
      connections: d.connections,
    }));
    summary.state = { dir: stateDir.dir, reused: stateDir.reused };
    const mirrored = await stack.mirror(resolve(options.out));
    summary.out = { dir: mirrored.dir, files: mirrored.objects, bytes: mirrored.bytes };
    if (mirrored.failed.length || mirrored.refused.length) summary.ok = false;
    const cold = Object.values(stack.runner.stats());
    const coldStartMs = stack.runner.coldStartWallMs();
    summary.timing = {
      fixedCostMs: startupMs + coldStartMs,
      startupMs,
      bundleMs: stack.bundles.ms,
      bundlesBuilt: stack.bundles.built > 0,
      coldStarts: cold.reduce((n, f) => n + f.coldStarts, 0),
      coldStartMs,
      coldStartSumMs: cold.reduce((n, f) => n + f.initMs, 0),
      totalMs: sinceProcessStart(),
    };
    if (options.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else process.stdout.write(`\n${formatSummary(summary)}\n`);
    return summary.ok ? 0 : 1;
  } finally {
    for (const step of cleanups.reverse())
      await step().catch((err: unknown) => say(`cleanup: ${(err as Error).message}`));
  }
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const known =
      err instanceof UsageError ||
      err instanceof ConfigError ||
      err instanceof RunRequestError ||
      err instanceof StateDirBusyError;
    const message = known ? (err as Error).message : String((err as Error).message ?? err);
    if (err instanceof UsageError) process.stderr.write(`error: ${message}\n\n${USAGE}\n`);
    else if (known) process.stderr.write(`error: ${message}\n`);
    else process.stderr.write(`error: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = known ? 2 : 1;
    // --json promises one JSON document on stdout, a failure included (even when the options did not parse).
    if (argv.includes('--json')) process.stdout.write(`${JSON.stringify({ ok: false, error: message })}\n`);
  },
);
