import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { StateStore } from '../providers/types.ts';
import { ExportRegistry } from './export-registry.ts';
import { DynamoInvoiceTable } from './invoice-table.ts';
import { PendingDocuments } from './pending-documents.ts';
import { RateBudgets } from './rate-budgets.ts';
import { announceRunCompleted } from './run-completed.ts';
import { RunControls } from './run-controls.ts';
import { RunLedger, type StartReconcile } from './run-ledger.ts';
import { Watermarks } from './watermarks.ts';

export { ExportBusyError, exportKey } from './export-registry.ts';
export type { RunFailure, RunRecord, RunRequest, RunStatus } from './run-ledger.ts';

type Args<K extends keyof T, T> = T[K] extends (...a: infer A) => unknown ? A : never;

/**
 * The state table as the functions use it: the export registry, the watermarks, the pending documents,
 * the run ledger, the invoice table and the shared rate budgets (each its own class over one DynamoDB
 * table, see state-table.ts), behind one object.
 */
export class DynamoStateStore implements StateStore {
  readonly exports: ExportRegistry;
  readonly watermarks: Watermarks;
  readonly runs: RunLedger;
  readonly invoices: DynamoInvoiceTable;
  readonly pendingDocuments: PendingDocuments;
  readonly controls: RunControls;
  readonly rates: RateBudgets;

  /** `startReconcile`: how a run whose messages are done sends its control-totals messages (the frame's). */
  constructor(
    ddb: DynamoDBDocumentClient,
    table: string,
    now: () => Date = () => new Date(),
    options: { startReconcile?: StartReconcile } = {},
  ) {
    this.invoices = new DynamoInvoiceTable(ddb, table, now);
    this.exports = new ExportRegistry(ddb, table, now);
    this.watermarks = new Watermarks(ddb, table, now);
    this.runs = new RunLedger(ddb, table, now, announceRunCompleted, options.startReconcile);
    this.controls = new RunControls(ddb, table, now);
    this.pendingDocuments = new PendingDocuments(ddb, table, now);
    this.rates = new RateBudgets(ddb, table, () => now().getTime());
  }

  getExport(...a: Args<'getExport', ExportRegistry>) {
    return this.exports.getExport(...a);
  }
  findOrCreateExport(...a: Args<'findOrCreateExport', ExportRegistry>) {
    return this.exports.findOrCreateExport(...a);
  }
  updateExport(...a: Args<'updateExport', ExportRegistry>) {
    return this.exports.updateExport(...a);
  }
  recordCopy(...a: Args<'recordCopy', ExportRegistry>) {
    return this.exports.recordCopy(...a);
  }
  countAttempt(...a: Args<'countAttempt', ExportRegistry>) {
    return this.exports.countAttempt(...a);
  }
  getWatermark(...a: Args<'getWatermark', Watermarks>) {
    return this.watermarks.getWatermark(...a);
  }
  setWatermark(...a: Args<'setWatermark', Watermarks>) {
    return this.watermarks.setWatermark(...a);
  }
  listPendingDocuments(...a: Args<'listPendingDocuments', PendingDocuments>) {
    return this.pendingDocuments.listPendingDocuments(...a);
  }
  recordPendingDocument(...a: Args<'recordPendingDocument', PendingDocuments>) {
    return this.pendingDocuments.recordPendingDocument(...a);
  }
  deletePendingDocument(...a: Args<'deletePendingDocument', PendingDocuments>) {
    return this.pendingDocuments.deletePendingDocument(...a);
  }
  ensureRun(...a: Args<'ensureRun', RunLedger>) {
    return this.runs.ensureRun(...a);
  }
  addPending(...a: Args<'addPending', RunLedger>) {
    return this.runs.addPending(...a);
  }
  addCounts(...a: Args<'addCounts', RunLedger>) {
    return this.runs.addCounts(...a);
  }
  addMonthFile(...a: Args<'addMonthFile', RunLedger>) {
    return this.runs.addMonthFile(...a);
  }
  addFailure(...a: Args<'addFailure', RunLedger>) {
    return this.runs.addFailure(...a);
  }
  addProblem(...a: Args<'addProblem', RunLedger>) {
    return this.runs.addProblem(...a);
  }
  getRun(...a: Args<'getRun', RunLedger>) {
    return this.runs.getRun(...a);
  }
  addRunScope(...a: Args<'addScope', RunControls>) {
    return this.controls.addScope(...a);
  }
  runScopes(...a: Args<'scopes', RunControls>) {
    return this.controls.scopes(...a);
  }
  addGap(...a: Args<'addGap', RunControls>) {
    return this.controls.addGap(...a);
  }
  runGaps(...a: Args<'gaps', RunControls>) {
    return this.controls.gaps(...a);
  }
  setReconciliation(...a: Args<'setReconciliation', RunControls>) {
    return this.controls.setReconciliation(...a);
  }
}
