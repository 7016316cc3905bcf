import type { Dispatcher } from 'undici';
import Agent from 'undici/lib/dispatcher/agent.js';

/** Timeouts for every provider call; a stalled socket fails (and is retried) instead of eating the budget. */
export const HTTP_TIMEOUTS = {
  connectMs: 10_000,
  /** Until the status line and headers arrive. */
  headersMs: 30_000,
  /** Between two body chunks, not for the whole body (downloads may take minutes). */
  bodyMs: 60_000,
  keepAliveMs: 30_000,
};

let agent: Dispatcher | undefined;

/** One keep-alive pool per container, shared by every client (provider APIs and token endpoints). */
export function sharedAgent(): Dispatcher {
  agent ??= new Agent({
    connectTimeout: HTTP_TIMEOUTS.connectMs,
    headersTimeout: HTTP_TIMEOUTS.headersMs,
    bodyTimeout: HTTP_TIMEOUTS.bodyMs,
    keepAliveTimeout: HTTP_TIMEOUTS.keepAliveMs,
  });
  return agent;
}
