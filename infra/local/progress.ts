import type { LocalStack } from './stack.ts';

/** A live status line on stderr: rewritten in place on a terminal, a line every few seconds otherwise. */
export function startProgress(stack: LocalStack, enabled: boolean): () => void {
  if (!enabled) return () => {};
  const tty = process.stderr.isTTY;
  const started = Date.now();
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const stats = Object.values(stack.runner.stats());
      const done = stats.reduce((n, s) => n + s.succeededRecords, 0);
      const failed = stats.reduce((n, s) => n + s.failedRecords, 0);
      const depths = Object.values(await stack.runner.queueDepths());
      const queued = depths.reduce((n, d) => n + d.visible + d.inFlight, 0);
      const delayed = depths.reduce((n, d) => n + d.delayed, 0);
      const landed = Object.entries(stack.consumer.counts())
        .map(([p, c]) => `${p.replace('/', '')} ${c?.objects ?? 0}`)
        .join(', ');
      const secs = Math.round((Date.now() - started) / 1000);
      const line = `[${secs}s] records ${done} done, ${failed} failed · queued ${queued}, delayed ${delayed} · landed: ${landed || 'nothing yet'}`;
      process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
    } catch {
      // Progress is best effort; the stack may be closing.
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), tty ? 1000 : 5000);
  return () => {
    clearInterval(timer);
    if (tty) process.stderr.write('\r\x1b[2K');
  };
}
