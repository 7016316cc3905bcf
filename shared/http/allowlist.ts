import type { ProviderId } from '../config/schema.ts';
import { DownloadRefusedError } from './errors.ts';

/**
 * Where download links may lead, per provider. Amazon hands out pre-signed S3 URLs (Ads statements and
 * government invoice links, SP-API export documents, Business report documents) in every S3 host form:
 * virtual-hosted and path-style, global and regional, legacy dash-region and dual-stack. Google's pdfUrl
 * points at its API hosts and may redirect to its content hosts. CloudFront is left out: no provider
 * documents links there, and any distribution anyone owns lives under cloudfront.net.
 */
const S3_HOSTS = [
  's3.amazonaws.com',
  '*.s3.amazonaws.com',
  's3.*.amazonaws.com',
  '*.s3.*.amazonaws.com',
  's3-*.amazonaws.com',
  '*.s3-*.amazonaws.com',
  '*.s3.dualstack.*.amazonaws.com',
  's3.dualstack.*.amazonaws.com',
] as const;

export const DOWNLOAD_HOSTS: Readonly<Record<ProviderId, readonly string[]>> = {
  'amazon-ads': S3_HOSTS,
  'amazon-business': S3_HOSTS,
  'sp-api': S3_HOSTS,
  cm360: ['*.googleapis.com', '*.googleusercontent.com'],
};

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The local stack sets ALLOW_LOOPBACK_DOWNLOADS=1 so simulators can serve documents from 127.0.0.1. */
export function loopbackDownloadsAllowed(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.ALLOW_LOOPBACK_DOWNLOADS === '1';
}

const patternCache = new Map<string, RegExp>();

/**
 * A host pattern as a regex: a leading `*.` stands for one or more labels (bucket names may hold dots),
 * a `*` anywhere else for part of one label (a region).
 */
function patternRegex(pattern: string): RegExp {
  let re = patternCache.get(pattern);
  if (!re) {
    const lower = pattern.toLowerCase();
    const leadingAny = lower.startsWith('*.');
    const rest = leadingAny ? lower.slice(2) : lower;
    const body = rest
      .split('.')
      .map((label) =>
        label
          .split('*')
          .map((part) => part.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&'))
          .join('[a-z0-9-]+'),
      )
      .join('\\.');
    re = new RegExp(`^${leadingAny ? '(?:[a-z0-9_-]+\\.)+' : ''}${body}$`);
    patternCache.set(pattern, re);
  }
  return re;
}

export function hostMatches(hostname: string, patterns: readonly string[]): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return patterns.some((p) => patternRegex(p).test(host));
}

/** Why a URL may not be downloaded, or undefined when it may. */
export function downloadRefusal(
  url: URL,
  hosts: readonly string[],
  allowLoopback: boolean,
): string | undefined {
  if (
    allowLoopback &&
    LOOPBACK_HOSTS.has(url.hostname) &&
    (url.protocol === 'http:' || url.protocol === 'https:')
  ) {
    return undefined;
  }
  if (url.protocol !== 'https:') return `not https (${url.protocol.replace(/:$/, '')})`;
  if (url.username || url.password) return 'credentials in the URL';
  if (!hostMatches(url.hostname, hosts)) return 'host not on the allowlist';
  return undefined;
}

export function isAllowedDownload(
  url: string | URL,
  hosts: readonly string[],
  allowLoopback: boolean = loopbackDownloadsAllowed(),
): boolean {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return false;
  }
  return downloadRefusal(parsed, hosts, allowLoopback) === undefined;
}

/** Parses and checks a download URL; throws DownloadRefusedError naming the host (never the query). */
export function checkDownloadUrl(
  operation: string,
  url: string | URL,
  hosts: readonly string[],
  allowLoopback: boolean,
): URL {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : url;
  } catch {
    throw new DownloadRefusedError(operation, '(unparseable)', 'not a valid absolute URL');
  }
  const reason = downloadRefusal(parsed, hosts, allowLoopback);
  if (reason) throw new DownloadRefusedError(operation, parsed.host, reason);
  return parsed;
}
