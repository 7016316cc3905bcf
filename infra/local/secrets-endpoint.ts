import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, listenLocal } from './servers.ts';

/**
 * A Secrets Manager stand-in: no emulator ships one, and the functions only read secrets, so this serves
 * `secretsmanager.GetSecretValue` over the SDK's JSON protocol from a map or a JSON file `{ name: value }`.
 * A file is read on every call so credentials edited while the stack runs are picked up.
 */

export interface SecretsEndpointOptions {
  /** Secret name -> value (objects are served as their JSON, strings verbatim). */
  secrets?: Record<string, unknown>;
  /** A JSON file of the same shape; used when `secrets` is absent. */
  file?: string;
  region: string;
  accountId: string;
}

export interface SecretsEndpoint {
  url: string;
  port: number;
  close(): Promise<void>;
}

const JSON_11 = 'application/x-amz-json-1.1';
const MAX_BODY = 64 * 1024;

class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** Accepts a name or an ARN (`...:secret:<name>-XXXXXX`), as Secrets Manager does. */
function secretNameOf(secretId: string): string {
  const marker = ':secret:';
  const at = secretId.startsWith('arn:') ? secretId.indexOf(marker) : -1;
  if (at < 0) return secretId;
  return secretId.slice(at + marker.length).replace(/-[A-Za-z0-9]{6}$/, '');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new ServiceError('InvalidRequestException', 'request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startSecretsEndpoint(options: SecretsEndpointOptions): Promise<SecretsEndpoint> {
  const createdDate = Math.floor(Date.now() / 1000);

  const load = (): Record<string, unknown> => {
    if (options.secrets) return options.secrets;
    if (!options.file) return {};
    try {
      return JSON.parse(readFileSync(options.file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      // The message names the file, never its content.
      throw new ServiceError(
        'InternalServiceError',
        `cannot read local secrets file ${options.file}: ${(err as Error).name}`,
      );
    }
  };

  const getSecretValue = (input: unknown) => {
    const secretId = (input as { SecretId?: unknown } | null)?.SecretId;
    if (typeof secretId !== 'string' || !secretId) {
      throw new ServiceError('InvalidParameterException', 'SecretId is required');
    }
    const name = secretNameOf(secretId);
    const secrets = load();
    if (!Object.hasOwn(secrets, name)) {
      throw new ServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    }
    const value = secrets[name];
    const secretString = typeof value === 'string' ? value : JSON.stringify(value);
    const digest = createHash('sha256').update(name).update('\0').update(secretString).digest('hex');
    const suffix = createHash('sha256').update(name).digest('base64url').replace(/[-_]/g, 'x').slice(0, 6);
    return {
      ARN: `arn:aws:secretsmanager:${options.region}:${options.accountId}:secret:${name}-${suffix}`,
      Name: name,
      SecretString: secretString,
      VersionId: `${digest.slice(0, 8)}-${digest.slice(8, 12)}-${digest.slice(12, 16)}-${digest.slice(16, 20)}-${digest.slice(20, 32)}`,
      VersionStages: ['AWSCURRENT'],
      CreatedDate: createdDate,
    };
  };

  const respond = (res: ServerResponse, status: number, body: unknown, errorType?: string) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': JSON_11,
      'content-length': Buffer.byteLength(text),
      ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
    });
    res.end(text);
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      try {
        const body = await readBody(req);
        const target = String(req.headers['x-amz-target'] ?? '');
        if (req.method !== 'POST' || target !== 'secretsmanager.GetSecretValue') {
          throw new ServiceError(
            'UnknownOperationException',
            `the local secrets endpoint serves only GetSecretValue, not "${target || req.method}"`,
          );
        }
        let input: unknown;
        try {
          input = JSON.parse(body || '{}');
        } catch {
          throw new ServiceError('SerializationException', 'request body is not JSON');
        }
        respond(res, 200, getSecretValue(input));
      } catch (err) {
        const e =
          err instanceof ServiceError
            ? err
            : new ServiceError('InternalServiceError', (err as Error).message);
        respond(
          res,
          e.type === 'InternalServiceError' ? 500 : 400,
          { __type: e.type, message: e.message },
          e.type,
        );
      }
    })();
  });

  const port = await listenLocal(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => closeServer(server),
  };
}
