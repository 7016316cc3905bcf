import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The directory where `npm start` keeps the state table and the bucket between runs, held by one process
 * at a time: a second stack on the same LevelDB files would fail midway, so it is refused up front,
 * naming the process that holds it. A lock left by a process that is gone is taken over.
 */

export class StateDirBusyError extends Error {
  override name = 'StateDirBusyError';
}

export interface StateDir {
  /** Absolute path of the directory. */
  dir: string;
  /** Whether it held data from an earlier run when opened. */
  reused: boolean;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, owned by someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Locks `dir` for this process (`dir.lock` beside it); `fresh` empties it first. */
export function openStateDir(path: string, options: { fresh?: boolean } = {}): StateDir {
  const dir = resolve(path);
  const lock = `${dir}.lock`;
  mkdirSync(dirname(dir), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const holder = Number(readFileSync(lock, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && alive(holder)) {
        throw new StateDirBusyError(
          `state directory ${dir} is in use by process ${holder}${holder === process.pid ? ' (this one)' : ' (another npm start?)'}; ` +
            'wait for it, or give this run another --state',
        );
      }
      rmSync(lock, { force: true });
    }
  }
  if (options.fresh) rmSync(dir, { recursive: true, force: true });
  let reused: boolean;
  try {
    reused = readFileSync(join(dir, 'dynamodb', 'CURRENT')).length > 0;
  } catch {
    reused = false;
  }
  mkdirSync(dir, { recursive: true });
  let released = false;
  return {
    dir,
    reused,
    release: () => {
      if (released) return;
      released = true;
      rmSync(lock, { force: true });
    },
  };
}
