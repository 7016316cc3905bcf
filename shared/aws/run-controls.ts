import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Gap, ReconciliationSummary, RunScope } from '../engine/reconciliation.ts';
import { queryAll, queryItems, ttl } from './state-table.ts';

const RUN_TTL_DAYS = 90;

/** Gaps live beside the run, not in it: reading a run (GET /runs) never pages through thousands of them. */
const gapPk = (runId: string, connection: string) => `RUNGAP#${runId}#${connection}`;

/**
 * What a run's control totals need (shared/engine/reconcile-connection.ts): the scopes and windows it
 * covered (RUN#<runId> / SCOPE#<connection>#<job>#<scope>), the gaps its invoices showed as they landed
 * (RUNGAP#<runId>#<connection> / <scope>#<invoiceId>#<code>#<field>: a page worked twice records them
 * once), and each connection's result (RUN#<runId> / RECON#<connection>, listed by GET /runs).
 */
export class RunControls {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async addScope(runId: string, connection: string, scope: RunScope): Promise<void> {
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: `RUN#${runId}`,
          sk: `SCOPE#${connection}#${scope.job}#${scope.scope}`,
          connection,
          ...scope,
          expiresAt: ttl(RUN_TTL_DAYS, this.now()),
        },
      }),
    );
  }

  async scopes(runId: string, connection: string): Promise<RunScope[]> {
    const items = await queryAll(this.ddb, this.table, `RUN#${runId}`, { prefix: `SCOPE#${connection}#` });
    return items
      .filter((i) => i.connection === connection)
      .map((i) => ({ job: String(i.job), scope: String(i.scope), window: i.window as RunScope['window'] }));
  }

  async addGap(runId: string, connection: string, gap: Gap): Promise<void> {
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: gapPk(runId, connection),
          sk: [gap.scope, gap.invoiceId ?? '', gap.code, gap.field ?? ''].join('#'),
          ...gap,
          expiresAt: ttl(RUN_TTL_DAYS, this.now()),
        },
      }),
    );
  }

  /** The gaps recorded as invoices landed, a page of the table at a time. */
  async *gaps(runId: string, connection: string): AsyncIterable<Gap> {
    for await (const item of queryItems(this.ddb, this.table, gapPk(runId, connection))) {
      const { pk: _p, sk: _s, expiresAt: _e, ...gap } = item;
      yield gap as unknown as Gap;
    }
  }

  async setReconciliation(summary: ReconciliationSummary): Promise<void> {
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: `RUN#${summary.runId}`,
          sk: `RECON#${summary.connection}`,
          summary,
          expiresAt: ttl(RUN_TTL_DAYS, this.now()),
        },
      }),
    );
  }
}
