import type { ProviderId } from '../config/schema.ts';

/**
 * The one description of the deployable resources that both the CDK stack (infra/aws) and the
 * local stack (infra/local) build from, so the two cannot drift.
 */

export type FunctionName =
  | 'amazon-ads-invoices'
  | 'amazon-ads-billing-statements'
  | 'amazon-business-invoices'
  | 'sp-api-invoices'
  | 'cm360-invoices'
  | 'export-poller'
  | 'runs-api'
  | 'run-reconciler';

/** The function that settles runs whose messages stopped moving (shared/runtime/reconcile-runs.ts). */
export const RECONCILER_FUNCTION = 'run-reconciler' satisfies FunctionName;

export interface QueueFedFunction {
  name: Exclude<FunctionName, 'runs-api' | 'run-reconciler'>;
  /** Logical queue id; the physical name is derived per environment. */
  queue: string;
  /** The provider whose connections feed this function (the poller serves every provider). */
  provider: ProviderId | 'all';
  /** The message `job` value a run for this function carries (billing statements share the provider). */
  job?: string;
  /** S3 prefixes the function writes (IAM is scoped to these). */
  writes: readonly string[];
  /** Whether it starts exports and so sends to the poll queue. */
  startsExports: boolean;
  /** Queues it sends to besides its own (continuations go to its own queue). */
  alsoSendsTo: readonly string[];
  /** Whether it reads the provider's connection secrets. */
  readsSecrets: boolean;
  batchSize: number;
  /** Whether it is implemented, or only validates and logs (README status table). */
  implemented: boolean;
}

export const QUEUE_FED_FUNCTIONS: readonly QueueFedFunction[] = [
  {
    name: 'amazon-ads-invoices',
    queue: 'amazon-ads-invoices',
    provider: 'amazon-ads',
    writes: [
      'raw/amazon-ads/',
      'documents/amazon-ads/',
      'invoices/provider=amazon-ads/',
      'reconciliation/provider=amazon-ads/',
    ],
    startsExports: false,
    alsoSendsTo: ['amazon-ads-billing-statements'],
    readsSecrets: true,
    batchSize: 1,
    implemented: true,
  },
  {
    name: 'amazon-ads-billing-statements',
    queue: 'amazon-ads-billing-statements',
    provider: 'amazon-ads',
    job: 'billing-statements',
    writes: ['reports/amazon-ads/'],
    startsExports: true,
    // The provider's main function checks a run's control totals (its last message may end here).
    alsoSendsTo: ['export-poll', 'amazon-ads-invoices'],
    readsSecrets: true,
    batchSize: 1,
    implemented: true,
  },
  {
    name: 'amazon-business-invoices',
    queue: 'amazon-business-invoices',
    provider: 'amazon-business',
    // No documents: the Reconciliation API serves none.
    writes: [
      'raw/amazon-business/',
      'invoices/provider=amazon-business/',
      'reconciliation/provider=amazon-business/',
    ],
    startsExports: false,
    alsoSendsTo: [],
    readsSecrets: true,
    batchSize: 1,
    implemented: true,
  },
  {
    name: 'sp-api-invoices',
    queue: 'sp-api-invoices',
    provider: 'sp-api',
    writes: [
      'raw/sp-api/',
      'documents/sp-api/',
      'invoices/provider=sp-api/',
      'reconciliation/provider=sp-api/',
    ],
    startsExports: true,
    alsoSendsTo: ['export-poll'],
    readsSecrets: true,
    batchSize: 1,
    implemented: true,
  },
  {
    name: 'cm360-invoices',
    queue: 'cm360-invoices',
    provider: 'cm360',
    writes: ['raw/cm360/', 'documents/cm360/', 'invoices/provider=cm360/', 'reconciliation/provider=cm360/'],
    startsExports: false,
    alsoSendsTo: [],
    readsSecrets: true,
    batchSize: 1,
    implemented: true,
  },
  {
    name: 'export-poller',
    queue: 'export-poll',
    provider: 'all',
    writes: ['reports/', 'exports/', 'documents/', 'invoices/'],
    startsExports: false,
    // A run's last message may be a poll: the run's control totals go to its provider's main function.
    alsoSendsTo: ['amazon-ads-invoices', 'sp-api-invoices'],
    readsSecrets: true,
    batchSize: 1,
    implemented: true,
  },
];

/** The function a `run` for this provider and job goes to. */
export function functionForRun(provider: ProviderId, job?: string): QueueFedFunction {
  const fn = QUEUE_FED_FUNCTIONS.find((f) => f.provider === provider && f.job === job);
  if (!fn) throw new Error(`no function takes runs for provider ${provider}${job ? ` job ${job}` : ''}`);
  return fn;
}

/** Every run job a provider has (a scheduled run fans out to each). */
export function runJobsOf(provider: ProviderId): QueueFedFunction[] {
  return QUEUE_FED_FUNCTIONS.filter((f) => f.provider === provider);
}

export const POLL_QUEUE = 'export-poll';

/** Queues a queue-fed function sends to besides its own (the stack grants exactly these). */
export function sendsTo(fn: QueueFedFunction): string[] {
  return [...new Set([...fn.alsoSendsTo, ...(fn.startsExports ? [POLL_QUEUE] : [])])].filter(
    (q) => q !== fn.queue,
  );
}

/** runs-api enqueues runs for any provider job and never polls: every queue but the poller's. */
export function runsApiQueues(): string[] {
  return QUEUE_FED_FUNCTIONS.filter((f) => f.provider !== 'all').map((f) => f.queue);
}

/** Environment variable a function reads to find a queue's URL: QUEUE_URL_<ID>, e.g. QUEUE_URL_EXPORT_POLL. */
export function queueUrlEnv(queue: string): string {
  return `QUEUE_URL_${queue.toUpperCase().replace(/-/g, '_')}`;
}

/** Visibility timeout is at least six times the function timeout (AWS's guidance for SQS event sources). */
export function visibilityTimeoutSeconds(functionTimeoutSeconds: number): number {
  return functionTimeoutSeconds * 6;
}

export const STATE_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
} as const;

/** Environment variables every function gets. */
export const ENV = {
  bucket: 'INVOICE_BUCKET',
  table: 'STATE_TABLE',
  connectionsFile: 'CONNECTIONS_FILE',
  /** Comma-separated extra download hosts (the local stack adds loopback). */
  extraDownloadHosts: 'EXTRA_DOWNLOAD_HOSTS',
  allowLoopback: 'ALLOW_LOOPBACK_DOWNLOADS',
  /** The function's own queue id (continuations and DLQ moves). */
  ownQueue: 'OWN_QUEUE',
  /** Receives before redrive: the frame records a failure on the last one. */
  maxReceiveCount: 'MAX_RECEIVE_COUNT',
} as const;

/**
 * CloudWatch metrics the functions emit, and the alarms and dashboard read (test/integration/metric-match.test.ts
 * holds the two sides together). CloudWatch treats each dimension set as a metric of its own, so the set is
 * fixed here: every per-message metric is emitted twice, under `{provider}` (alarms, totals) and under
 * `{provider, connection}` (the dashboard's lines per connection), and never with Powertools' `service`
 * dimension. Run outcomes are counted under `{status}` and `{provider, status}`, the status being the string
 * the run settled with (SUCCEEDED, FAILED, and PARTIAL once runs can end so); runs the reconciler settled under
 * `{cause}`.
 */
export const METRICS = {
  namespace: 'InvoiceIngest',
  dimensions: { provider: 'provider', connection: 'connection', status: 'status', cause: 'cause' },
  /** Keyed by counter name (shared/providers/types.ts Counter) where the metric is a message counter. */
  names: {
    records: 'Records',
    invoices: 'Invoices',
    documents: 'Documents',
    reports: 'Reports',
    bytes: 'BytesCopied',
    retries: 'Retries',
    throttles: 'Throttles',
    defers: 'Defers',
    failures: 'Failures',
    rows: 'ReportRows',
    unchanged: 'InvoicesUnchanged',
    exportsFailed: 'ExportsFailed',
    /** Of the exports failed, those the poller gave up on at their deadline (the registry says EXPIRED). */
    exportsExpired: 'ExportsExpired',
    /** Seconds since the export was created, on every poll of it (graphed as the maximum). */
    exportAge: 'ExportAgeSeconds',
    /** One per run settling, with the status it settled with. */
    runsCompleted: 'RunsCompleted',
    /**
     * A run the reconciler settled (shared/runtime/reconcile-runs.ts), under {cause}: DLQ (its last message
     * reached a DLQ unrecorded) or STOPPED (nothing of it moved for longer than RUN_STALE_AFTER_MINUTES).
     */
    runsReconciled: 'RunsReconciled',
    /** A message the frame stopped for looping (shared/runtime/steps/loop-guard.ts). */
    loopGuarded: 'LoopGuarded',
    /**
     * Gaps a connection's control totals found (shared/engine/reconcile-connection.ts), 0 included: one data
     * point per checked run and connection.
     */
    reconciliationGaps: 'ReconciliationGaps',
  },
} as const;

/** Per-function environment: where to find the queues it sends to and its own DLQ. */
export function dlqUrlEnv(queue: string): string {
  return `DLQ_URL_${queue.toUpperCase().replace(/-/g, '_')}`;
}
