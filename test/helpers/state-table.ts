import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { closeServer, listenLocal } from '../../infra/local/servers.ts';
import { STATE_TABLE } from '../../shared/aws/resources.ts';

export interface StateTable {
  ddb: DynamoDBDocumentClient;
  /** dynalite's URL (AWS_ENDPOINT_URL_DYNAMODB for code that builds its own client). */
  endpoint: string;
  table: string;
  close(): Promise<void>;
}

/** The state table (pk, sk) in an in-memory dynalite on a free loopback port, for tests of the stores on it. */
export async function startStateTable(table = 'state'): Promise<StateTable> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const endpoint = `http://127.0.0.1:${await listenLocal(server)}`;
  const client = new DynamoDBClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  await client.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: STATE_TABLE.partitionKey, AttributeType: 'S' },
        { AttributeName: STATE_TABLE.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: STATE_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: STATE_TABLE.sortKey, KeyType: 'RANGE' },
      ],
    }),
  );
  const ddb = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return {
    ddb,
    endpoint,
    table,
    close: async () => {
      ddb.destroy();
      await closeServer(server);
    },
  };
}
