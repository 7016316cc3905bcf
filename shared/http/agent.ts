import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

/** Timeouts for every provider call; a stalled socket fails (and is retried) instead of eating the budget. */
export const HTTP_TIMEOUTS = {
  /** DNS, TCP and (https) the TLS handshake of a new connection. */
  connectMs: 10_000,
  /** Until the status line and headers arrive. */
  headersMs: 30_000,
  /** Between two body chunks, not for the whole body (downloads may take minutes). */
  bodyMs: 60_000,
  keepAliveMs: 30_000,
};

export type HttpTimeouts = typeof HTTP_TIMEOUTS;

/** Node keeps one pool per scheme; each pools its sockets per host and port. */
export interface HttpAgents {
  http: HttpAgent;
  https: HttpsAgent;
}

let agents: HttpAgents | undefined;

/** One keep-alive pool per container, shared by every client (provider APIs and token endpoints). */
export function sharedAgent(): HttpAgents {
  if (!agents) {
    // `timeout` on a Node agent is how long a pooled socket may sit idle; it has no effect on a socket in
    // use (request.ts times each request's phases itself). A server's shorter Keep-Alive hint wins.
    const options = { keepAlive: true, timeout: HTTP_TIMEOUTS.keepAliveMs };
    agents = { http: new HttpAgent(options), https: new HttpsAgent(options) };
  }
  return agents;
}
