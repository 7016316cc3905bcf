import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';

/**
 * An endpoint that answers the S3 calls the sink makes and throws the bytes away: copying into it
 * measures what the sink itself costs (reading, hashing, signing, sending), apart from s3rver's storage.
 */
interface Stats {
  requests: number;
  bytes: number;
}

export interface DiscardingS3 {
  url: string;
  /** Requests answered and body bytes received so far (a streamed body's aws-chunked framing included). */
  stats: () => Promise<Stats>;
  close: () => Promise<void>;
}

export function startDiscardingS3(): Promise<DiscardingS3> {
  let requests = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/__stats') return void res.end(JSON.stringify({ requests, bytes }));
    requests += 1;
    // S3 answers the SHA-256 it verified; this endpoint echoes what it was sent (a header, or the trailer
    // after a streamed body's last aws-chunked chunk), keeping only the last two chunks to find the trailer.
    let previous: Buffer = Buffer.alloc(0);
    let last: Buffer = Buffer.alloc(0);
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      previous = last;
      last = chunk;
    });
    req.on('end', () => {
      const tail = Buffer.concat([previous.subarray(-200), last.subarray(-200)]).toString('latin1');
      const sent = req.headers['x-amz-checksum-sha256'] ?? /x-amz-checksum-sha256:(\S+)/.exec(tail)?.[1];
      if (typeof sent === 'string') res.setHeader('x-amz-checksum-sha256', sent);
      res.setHeader('content-type', 'application/xml');
      if (req.method === 'POST' && url.searchParams.has('uploads')) {
        res.end(
          '<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>',
        );
      } else if (req.method === 'POST' && url.searchParams.has('uploadId')) {
        res.end(
          '<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"e"</ETag></CompleteMultipartUploadResult>',
        );
      } else {
        res.setHeader('etag', '"e"');
        res.end();
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({
        url: `http://127.0.0.1:${port}`,
        stats: async () => ({ requests, bytes }),
        close: () => new Promise((r) => server.close(() => r())),
      });
    }),
  );
}

/**
 * The same endpoint in a process of its own: in the benchmark's process it would share one thread with the
 * source it copies from, and receiving would slow sending, which S3, on other machines, does not.
 */
export async function spawnDiscardingS3(): Promise<DiscardingS3> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'discard-s3-child.ts')],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`discarding endpoint exited (${code})`)));
    child.stdout.once('data', (line: Buffer) => resolve(line.toString().trim()));
  });
  child.removeAllListeners('exit');
  return {
    url,
    stats: async () => (await (await fetch(`${url}/__stats`)).json()) as Stats,
    close: async () => {
      child.kill();
      await new Promise((r) => child.once('exit', r));
    },
  };
}
