import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { REPO_ROOT } from '../../infra/local/stack.ts';

const run$ = promisify(execFile);

export interface CliSummaryRow {
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

export interface CliSummary {
  ok: boolean;
  rows: CliSummaryRow[];
  failures?: Array<{ connection: string; reason: string }>;
  problems?: Array<{ connection: string; code: string; message: string; note?: boolean }>;
  pendingDocuments?: Array<{ connection: string; invoiceId: string; type: string; reason: string }>;
  dlq?: Array<{ queue: string; connection?: string; reason?: string }>;
  reconciled?: unknown;
  /** With --faults: what each simulator injected, by kind. */
  faults?: Record<string, Record<string, number>>;
  state?: { dir: string; reused: boolean };
  timing?: {
    fixedCostMs: number;
    startupMs: number;
    coldStarts: number;
    coldStartMs: number;
    totalMs?: number;
  };
}

export type CliRun = CliSummary & { stderr: string };

/** The last lines of a process's output, for an error message (a whole run's log would bury the end). */
const tail = (text: string | undefined, lines = 60) =>
  (text ?? '').trimEnd().split('\n').slice(-lines).join('\n');

/**
 * `npm start -- <args> --json` as a child process: its one JSON document on stdout, and its stderr. A run
 * that ended not ok (exit 1) still answers its summary, for the test to assert on and to show
 * (`diagnosis`); a CLI that was stopped (the timeout) or refused its options throws, with what it printed.
 */
export async function runCli(args: readonly string[], timeoutMs = 150_000): Promise<CliRun> {
  try {
    const { stdout, stderr } = await run$(
      process.execPath,
      ['--openssl-legacy-provider', '--import', 'tsx', 'infra/local/cli.ts', ...args, '--json'],
      { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs },
    );
    return { ...(JSON.parse(stdout) as CliSummary), stderr };
  } catch (err) {
    const e = err as Error & { code?: number | string; killed?: boolean; stdout?: string; stderr?: string };
    if (e.code === 1 && e.stdout) {
      try {
        return { ...(JSON.parse(e.stdout) as CliSummary), stderr: e.stderr ?? '' };
      } catch {
        // Not the summary: the error below shows what it was.
      }
    }
    const how = e.killed ? `was stopped after ${timeoutMs} ms` : `exited with ${e.code}`;
    throw new Error(
      `npm start ${args.join(' ')} ${how}\n--- stderr (last lines) ---\n${tail(e.stderr)}\n--- stdout ---\n${tail(e.stdout, 20)}`,
    );
  }
}

/** Powertools' context keys: the same on every line of a function, noise in a diagnosis. */
const CONTEXT_KEYS = new Set([
  'level',
  'message',
  'timestamp',
  'service',
  'cold_start',
  'function_arn',
  'function_memory_size',
  'function_name',
  'function_request_id',
  'sampling_rate',
  'xray_trace_id',
]);

/** A function's JSON log line as `service LEVEL message {the rest}`; a retry (there are hundreds) left out. */
function logLine(line: string): string | undefined {
  if (!line.startsWith('{')) return line;
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (entry.message === 'retrying') return undefined;
    const rest = Object.fromEntries(Object.entries(entry).filter(([k]) => !CONTEXT_KEYS.has(k)));
    return `${entry.service} ${entry.level} ${entry.message} ${JSON.stringify(rest)}`;
  } catch {
    return line;
  }
}

/**
 * What a CLI run's summary says went wrong, for an assertion's message: each connection's status and
 * counts, failures, DLQ messages, what was left out (problems that are not notes, pending documents),
 * what the run reconciler settled, and the end of its stderr (run events, function warnings and errors).
 * The summary holds no secrets and no signed links (the CLI keeps them out), so it may be printed.
 */
export function diagnosis(run: CliRun): string {
  const rows = run.rows.map(
    (r) =>
      `${r.connection}: ${r.status} invoices=${r.invoices} documents=${r.documents} reports=${r.reports} retries=${r.retries} failures=${r.failures}`,
  );
  const section = (name: string, items: readonly unknown[] | undefined) =>
    items?.length ? [`${name}:`, ...items.map((i) => `  ${JSON.stringify(i)}`)] : [];
  return [
    `ok=${run.ok}${run.timing?.totalMs !== undefined ? `, ${Math.round(run.timing.totalMs / 1000)} s` : ''}`,
    ...rows,
    ...section('failures', run.failures),
    ...section('dlq', run.dlq),
    ...section(
      'problems',
      run.problems?.filter((p) => !p.note),
    ),
    ...section('pending documents', run.pendingDocuments),
    ...(run.reconciled ? [`reconciled: ${JSON.stringify(run.reconciled)}`] : []),
    '--- stderr (last lines, retries left out) ---',
    tail(
      run.stderr
        .split('\n')
        .map(logLine)
        .filter((l) => l !== undefined)
        .join('\n'),
    ),
  ].join('\n');
}

/** Every file under a directory, relative, sorted. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/**
 * Pre-signed links with their host's port and their signing time and signature masked (S3's X-Amz-Date and
 * X-Amz-Signature; CM360's pdfUrl ts and sig): when a link was signed depends on when it was fetched.
 */
export const maskLinks = (text: string) =>
  text
    .replace(/http:\/\/127\.0\.0\.1:\d+/g, 'http://127.0.0.1:<port>')
    .replace(/(X-Amz-(?:Date|Signature)=)[^&"]+/g, '$1<masked>')
    .replace(/([?&](?:ts|sig)=)[^&"]+/g, '$1<masked>');

/** A normalized month file's lines without their fetchedAt (when the run fetched them, not what). */
export const withoutFetchedAt = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const { fetchedAt, ...rest } = JSON.parse(l) as Record<string, unknown>;
      expect(fetchedAt).toEqual(expect.any(String));
      return JSON.stringify(rest);
    })
    .join('\n');

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

/** A run's reconciliation file is named by its run id, new on every run: the name with it masked. */
export const withoutRunFile = (file: string) => file.replace(new RegExp(`/${UUID}\\.jsonl$`), '/RUN.jsonl');

/** A reconciliation file with its run's id and time masked (what two runs of one seed and clock share). */
export const withoutRunIds = (text: string) =>
  text.replace(new RegExp(UUID, 'g'), 'RUN').replace(/"reconciledAt":"[^"]*"/g, '"reconciledAt":"T"');

/** The files under a mirror by their name with the run id masked (see withoutRunFile). */
export async function filesByName(dir: string): Promise<Map<string, string>> {
  return new Map((await filesUnder(dir)).map((f) => [withoutRunFile(f), f]));
}
