import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ProviderId } from '../config/schema.ts';
import { isConditionFailure } from './state-table.ts';

/** Watermarks: how far each scope has been fetched, moved forward only. */
export class Watermarks {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async getWatermark(provider: ProviderId, connection: string, scope: string): Promise<string | undefined> {
    const out = await this.ddb.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: `WATERMARK#${provider}#${connection}`, sk: scope },
        ConsistentRead: true,
      }),
    );
    return out.Item?.date as string | undefined;
  }

  async setWatermark(provider: ProviderId, connection: string, scope: string, date: string): Promise<void> {
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: `WATERMARK#${provider}#${connection}`,
            sk: scope,
            date,
            updatedAt: this.now().toISOString(),
          },
          ConditionExpression: 'attribute_not_exists(pk) OR #d < :d',
          ExpressionAttributeNames: { '#d': 'date' },
          ExpressionAttributeValues: { ':d': date },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }
}
