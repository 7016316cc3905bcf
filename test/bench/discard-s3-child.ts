import { startDiscardingS3 } from './discard-s3.ts';

/** The discarding endpoint in its own process (spawnDiscardingS3): prints its URL, serves until killed. */
const endpoint = await startDiscardingS3();
process.stdout.write(`${endpoint.url}\n`);
