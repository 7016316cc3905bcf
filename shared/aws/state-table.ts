import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';

/**
 * One DynamoDB table (pk, sk) holds the state, each part owned by one class:
 *   EXPORT#<key>            / EXPORT          ExportRegistry (find-before-create)
 *   WATERMARK#<prov>#<conn> / <scope>         Watermarks: how far a scope has been fetched
 *   PENDINGDOC#<prov>#<conn> / <scope>#<invoiceId>#<document file name>
 *                                             PendingDocuments: documents not landed yet, retried by later runs
 *   RUN#<runId>             / RUN             RunLedger: what was asked, pending message count, status
 *   RUN#<runId>             / CONN#<conn>     RunLedger: counters per connection
 *   RUN#<runId>             / FAIL#|PROBLEM#  RunLedger: failures and reported problems (PROBLEM#<hash of what it says>, FAIL#dlq#<messageId>:
 *                                              a message the reconciler found unsettled in a DLQ)
 *   RUNS#RUNNING            / <runId>         RunningRuns: a marker while the run is RUNNING (the reconciler's list)
 *   INVOICE#<prov>#<conn>#<scope>          / ID#<invoiceId>  DynamoInvoiceTable: which month an invoice is in
 *   INVMONTH#<prov>#<conn>#<scope>#<month> / ID#<invoiceId>  DynamoInvoiceTable: the normalized invoice
 *   PUBLISH#<prov>#<conn>#<scope>#<month>  / PUBLISH         DynamoInvoiceTable: who writes the month file
 *   RUN#<runId>             / SCOPE#<conn>#<job>#<scope>, RECON#<conn>   RunControls: what a run covered, its control totals
 *   RUNGAP#<runId>#<conn>   / <scope>#<invoiceId>#<code>#<field>          RunControls: gaps invoices showed as they landed
 *   RATE#<prov>#<conn>      / <operation>     RateBudgets: an operation's rate plan, shared by the containers (and whether the
 *                                             provider told its rate)
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

/**
 * The items of one partition (those whose sort key starts with `prefix`, if given), a page of the table at
 * a time, consistent reads unless told otherwise: what every part of the state reads a list with.
 */
export async function* queryItems(
  ddb: DynamoDBDocumentClient,
  table: string,
  pk: string,
  options: { prefix?: string; consistent?: boolean } = {},
): AsyncIterable<Record<string, unknown>> {
  const { prefix, consistent = true } = options;
  let start: Record<string, unknown> | undefined;
  do {
    const out = await ddb.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: prefix === undefined ? 'pk = :pk' : 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ...(prefix === undefined ? {} : { ':prefix': prefix }) },
        ConsistentRead: consistent,
        ExclusiveStartKey: start,
      }),
    );
    yield* out.Items ?? [];
    start = out.LastEvaluatedKey;
  } while (start);
}

/** queryItems, gathered: for lists the caller needs whole (a run's record, a connection's few scopes). */
export async function queryAll(
  ddb: DynamoDBDocumentClient,
  table: string,
  pk: string,
  options: { prefix?: string; consistent?: boolean } = {},
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for await (const item of queryItems(ddb, table, pk, options)) items.push(item);
  return items;
}
