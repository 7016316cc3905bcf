import { describe, expect, it } from 'vitest';
import { storeBytesOnce } from '../../../shared/engine/store-raw.ts';
import { MemorySink, memoryContext } from '../../helpers/memory-context.ts';

const connection = { id: 'c', provider: 'sp-api' } as never;
const meta = (runId: string) => ({ sourceOperation: 'op', runId, fetchedAt: '2026-03-15T12:00:00Z' });

describe('storeBytesOnce', () => {
  it('writes bytes the object does not hold, and then not again, telling whether this run stored them', async () => {
    const sink = new MemorySink();
    const { ctx } = memoryContext(connection, { sink });
    const body = Buffer.from('<NFe/>');
    const first = await storeBytesOnce(ctx, 'documents/a.xml', body, meta(ctx.runId));
    expect(first).toMatchObject({ written: true, thisRun: true, bytes: 6 });
    // A later try of the same run's work (the receive that stored it failed after): stored, this run's.
    const again = await storeBytesOnce(ctx, 'documents/a.xml', body, meta(ctx.runId));
    expect(again).toMatchObject({ written: false, thisRun: true, sha256: first.sha256 });
    expect(sink.puts).toBe(1);
    // Another run finds it stored by the first: not written, not its own.
    const other = memoryContext(connection, { sink }).ctx;
    Object.assign(other, { runId: 'run-next' });
    expect(await storeBytesOnce(other, 'documents/a.xml', body, meta('run-next'))).toMatchObject({
      written: false,
      thisRun: false,
    });
    // Other bytes under the key are written, and are the writing run's.
    expect(
      await storeBytesOnce(other, 'documents/a.xml', Buffer.from('<NFe v="2"/>'), meta('run-next')),
    ).toMatchObject({ written: true, thisRun: true });
    expect(sink.puts).toBe(2);
  });
});
