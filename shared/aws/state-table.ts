import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

/**
 * One DynamoDB table (pk, sk) holds the state, each part owned by one class:
 *   EXPORT#<key>            / EXPORT          ExportRegistry (find-before-create)
 *   WATERMARK#<prov>#<conn> / <scope>         Watermarks: how far a scope has been fetched
 *   PENDINGDOC#<prov>#<conn> / <scope>#<invoiceId>#<document file name>
 *                                             PendingDocuments: documents not landed yet, retried by later runs
 *   RUN#<runId>             / RUN             RunLedger: what was asked, pending message count, status
 *   RUN#<runId>             / CONN#<conn>     RunLedger: counters per connection
 *   RUN#<runId>             / FAIL#|PROBLEM#  RunLedger: failures and reported problems (FAIL#dlq#<messageId>:
 *                                              a message the reconciler found unsettled in a DLQ)
 *   RUNS#RUNNING            / <runId>         RunningRuns: a marker while the run is RUNNING (the reconciler's list)
 *   INVOICE#<prov>#<conn>#<scope>          / ID#<invoiceId>  DynamoInvoiceTable: which month an invoice is in
 *   INVMONTH#<prov>#<conn>#<scope>#<month> / ID#<invoiceId>  DynamoInvoiceTable: the normalized invoice
 *   PUBLISH#<prov>#<conn>#<scope>#<month>  / PUBLISH         DynamoInvoiceTable: who writes the month file
 */

/** Epoch seconds `days` from now, for the table's TTL attribute. */
export function ttl(days: number, now: Date): number {
  return Math.floor(now.getTime() / 1000) + days * 86_400;
}

export function isConditionFailure(err: unknown): boolean {
  return (
    err instanceof ConditionalCheckFailedException ||
    (err as Error)?.name === 'ConditionalCheckFailedException'
  );
}
