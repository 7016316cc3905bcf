import { randomUUID } from 'node:crypto';
import { DeleteCommand, type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure, queryItems, ttl } from './state-table.ts';

/** The one partition that lists RUNNING runs: a Query over it is the reconciler's whole search. */
export const RUNNING_RUNS_PK = 'RUNS#RUNNING';

export interface RunningMarker {
  runId: string;
  /** This marking's generation: `<ISO time>#<random>`, also kept on the run's record while it runs. */
  mark: string;
  markedAt: string;
}

/**
 * Marker items (RUNS#RUNNING / <runId>) that list the runs whose status is RUNNING, so the reconciler finds
 * them with one Query instead of a Scan. Without transactions (dynalite has none) the marker cannot change
 * with the run's status, so the run ledger keeps one invariant by ordering: a marker is written before a run
 * becomes RUNNING and removed only after it stopped being so. A marker may outlive its run's RUNNING status
 * (a crash between the two writes, a redelivered `run` message): the reconciler drops those. A RUNNING run
 * without a marker cannot happen. Each marking has a generation (`mark`), also written on the run's record:
 * a removal names the generation it removes, so a settle racing a reopen cannot take the reopened run's
 * fresh marker away.
 */
export class RunningRuns {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly now: () => Date,
    private readonly ttlDays: number,
  ) {}

  /** Writes (or rewrites) the run's marker; returns its generation, to be set on the run's record. */
  async mark(runId: string): Promise<string> {
    const now = this.now();
    const mark = `${now.toISOString()}#${randomUUID().slice(0, 8)}`;
    await this.ddb.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: RUNNING_RUNS_PK,
          sk: runId,
          runId,
          mark,
          markedAt: now.toISOString(),
          expiresAt: ttl(this.ttlDays, now),
        },
      }),
    );
    return mark;
  }

  /** Removes the marker if it is still the generation `mark`; false when it is not (reopened, or gone). */
  async unmark(runId: string, mark: string): Promise<boolean> {
    try {
      await this.ddb.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: RUNNING_RUNS_PK, sk: runId },
          ConditionExpression: 'mark = :mark',
          ExpressionAttributeValues: { ':mark': mark },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async list(): Promise<RunningMarker[]> {
    const out: RunningMarker[] = [];
    // Eventually consistent: the reconciler reads each run's own record before it acts on a marker.
    for await (const item of queryItems(this.ddb, this.table, RUNNING_RUNS_PK, { consistent: false })) {
      out.push({ runId: String(item.runId), mark: String(item.mark), markedAt: String(item.markedAt) });
    }
    return out;
  }
}
