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
  state?: { dir: string; reused: boolean };
  timing?: { fixedCostMs: number; startupMs: number; coldStarts: number; coldStartMs: number };
}

/** `npm start -- <args> --json` as a child process: its one JSON document on stdout, and its stderr. */
export async function runCli(
  args: readonly string[],
  timeoutMs = 150_000,
): Promise<CliSummary & { stderr: string }> {
  const { stdout, stderr } = await run$(
    process.execPath,
    ['--openssl-legacy-provider', '--import', 'tsx', 'infra/local/cli.ts', ...args, '--json'],
    { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs },
  );
  return { ...(JSON.parse(stdout) as CliSummary), stderr };
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
