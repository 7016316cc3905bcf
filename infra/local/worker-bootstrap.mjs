// A worker thread starts without the parent's loaders (Node 20 ignores `--import` in a Worker's execArgv),
// so this plain-JS entry registers tsx for the thread, then loads the TypeScript worker and, through it,
// the handler module.
import { register } from 'tsx/esm/api';

register();
await import('./function-worker.ts');
