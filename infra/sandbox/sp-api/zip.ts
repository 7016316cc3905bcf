import { Readable } from 'node:stream';
import { Zip, ZipDeflate } from 'fflate';

/**
 * ZIP archives generated as streams: one entry is deflated each time the reader wants more, so an
 * archive of any size costs one entry of memory. Fixed modification times make the bytes the same on
 * every pass, so the length measured by one pass is the Content-Length of the next.
 */

export interface ZipSourceEntry {
  name: string;
  /** Produced only when the entry is reached. */
  data: () => Uint8Array;
}

const MTIME = new Date('2024-01-01T00:00:00Z');

export function zipStream(entries: () => Iterator<ZipSourceEntry>): Readable {
  const it = entries();
  const queue: Uint8Array[] = [];
  let ended = false;
  let closed = false;
  let failure: Error | undefined;
  const zip = new Zip((err, chunk, final) => {
    if (err) failure = err;
    else queue.push(chunk);
    if (final) ended = true;
  });
  return new Readable({
    read() {
      while (queue.length === 0 && !ended && !failure) {
        const next = it.next();
        if (next.done) {
          if (!closed) {
            closed = true;
            zip.end();
          }
          continue;
        }
        const file = new ZipDeflate(next.value.name, { level: 6 });
        file.mtime = MTIME;
        zip.add(file);
        file.push(next.value.data(), true);
      }
      if (failure) {
        this.destroy(failure);
        return;
      }
      while (queue.length > 0) {
        if (!this.push(Buffer.from(queue.shift()!))) return;
      }
      if (ended) this.push(null);
    },
  });
}

/** Bytes a stream yields (one pass, nothing kept). */
export async function measure(stream: Readable): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += (chunk as Buffer).length;
  return n;
}
