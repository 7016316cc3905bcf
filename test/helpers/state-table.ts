import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { createStateTable } from '../../infra/local/resources.ts';
import { closeServer, listenLocal } from '../../infra/local/servers.ts';

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
  await createStateTable(client, table);

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
