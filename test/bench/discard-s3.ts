import { createServer } from 'node:http';

/**
 * An endpoint that answers the S3 calls the sink makes and throws the bytes away: copying into it
 * measures what the sink itself costs (reading, hashing, signing, sending), apart from s3rver's storage.
 */
export function startDiscardingS3(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    req.on('data', () => {});
    req.on('end', () => {
      res.setHeader('content-type', 'application/xml');
      if (req.method === 'POST' && url.searchParams.has('uploads')) {
        res.end(
          '<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>',
        );
      } else if (req.method === 'POST' && url.searchParams.has('uploadId')) {
        res.end(
          '<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"e"</ETag></CompleteMultipartUploadResult>',
        );
      } else if (req.method === 'PUT' && req.headers['x-amz-copy-source']) {
        res.end(
          '<CopyObjectResult><ETag>"e"</ETag><LastModified>2026-01-01T00:00:00.000Z</LastModified></CopyObjectResult>',
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
      resolve({ url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) });
    }),
  );
}
