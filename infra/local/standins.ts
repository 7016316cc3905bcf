import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dynalite from 'dynalite';
import { createSqsServer } from 'local-aws-sqs';
import S3rver from 's3rver';
import { startSecretsEndpoint } from './secrets-endpoint.ts';
import { closeServer, listenLocal } from './servers.ts';

/**
 * The AWS stand-ins, in this process, on free loopback ports: s3rver (S3), local-aws-sqs (SQS), dynalite
 * (DynamoDB) and a small Secrets Manager endpoint. Functions reach them only through the SDK's standard
 * AWS_ENDPOINT_URL_* settings in `env`, so they run the same code as in Lambda.
 */

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT_ID = '000000000000';

export interface StandinsOptions {
  /**
   * Where S3 and DynamoDB keep their data between runs (`s3/`, `dynamodb/` inside); one process at a time
   * (see state-dir.ts). Default: a temp directory and memory, gone on close.
   */
  stateDir?: string;
  /** Secret name -> value served by the Secrets Manager endpoint. */
  secrets?: Record<string, unknown>;
  /** Or a JSON file of the same shape, read on every call. */
  secretsFile?: string;
  region?: string;
  accountId?: string;
}

export interface Endpoints {
  s3: string;
  sqs: string;
  dynamodb: string;
  secretsManager: string;
}

export interface Standins {
  /** What a process or worker needs to reach the stand-ins with the standard SDK settings. */
  env: Record<string, string>;
  endpoints: Endpoints;
  region: string;
  accountId: string;
  /** s3rver's S3 notification records, re-emitted as `event` (the stack forwards them to EventBridge shape). */
  s3Events: EventEmitter;
  close(): Promise<void>;
}

export async function startStandins(options: StandinsOptions = {}): Promise<Standins> {
  const region = options.region ?? LOCAL_REGION;
  const accountId = options.accountId ?? LOCAL_ACCOUNT_ID;
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    const errors: unknown[] = [];
    for (const close of closers.splice(0).reverse()) {
      try {
        await close();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length) throw new AggregateError(errors, 'closing the local stand-ins failed');
  };

  try {
    let s3Dir: string;
    if (options.stateDir) {
      s3Dir = join(options.stateDir, 's3');
      await mkdir(s3Dir, { recursive: true });
    } else {
      const tmp = await mkdtemp(join(tmpdir(), 'invoice-ingest-s3-'));
      closers.push(() => rm(tmp, { recursive: true, force: true }));
      s3Dir = tmp;
    }
    const s3rver = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3Dir });
    const s3Events = new EventEmitter();
    s3rver.on('event', (event: unknown) => s3Events.emit('event', event));
    const s3Address = await s3rver.run();
    closers.push(async () => {
      s3Events.removeAllListeners();
      if (s3rver.httpServer) await closeServer(s3rver.httpServer);
    });

    const sqsServer: Server = await createSqsServer({
      port: 0,
      hostname: '127.0.0.1',
      region,
      accountId,
      emulateQueueCreationLifecycle: false,
    });
    closers.push(() => closeServer(sqsServer));
    const sqsPort = (sqsServer.address() as { port: number }).port;

    const ddbServer = dynalite({
      createTableMs: 0,
      deleteTableMs: 0,
      updateTableMs: 0,
      // LevelDB on disk (dynalite's `path`), else memory.
      ...(options.stateDir ? { path: join(options.stateDir, 'dynamodb') } : {}),
    });
    const ddbPort = await listenLocal(ddbServer);
    closers.push(async () => {
      ddbServer.closeAllConnections();
      await new Promise<void>((resolve, reject) => ddbServer.close((err) => (err ? reject(err) : resolve())));
    });

    const secrets = await startSecretsEndpoint({
      ...(options.secrets ? { secrets: options.secrets } : {}),
      ...(options.secretsFile ? { file: options.secretsFile } : {}),
      region,
      accountId,
    });
    closers.push(() => secrets.close());

    const endpoints: Endpoints = {
      s3: `http://127.0.0.1:${s3Address.port}`,
      sqs: `http://127.0.0.1:${sqsPort}`,
      dynamodb: `http://127.0.0.1:${ddbPort}`,
      secretsManager: secrets.url,
    };
    const env: Record<string, string> = {
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      // s3rver checks signatures against its one built-in key pair; the other stand-ins check none.
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ENDPOINT_URL_S3: endpoints.s3,
      AWS_ENDPOINT_URL_SQS: endpoints.sqs,
      AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsManager,
    };
    let closed = false;
    return {
      env,
      endpoints,
      region,
      accountId,
      s3Events,
      close: async () => {
        if (closed) return;
        closed = true;
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll().catch(() => {});
    throw err;
  }
}
