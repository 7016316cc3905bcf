import { afterEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../../shared/config/schema.ts';
import type { ClientSpec } from '../../../shared/engine/provider-spec.ts';
import { scalePlans, specHttp } from '../../../shared/engine/spec-http.ts';
import { budgetUntil } from '../../../shared/http/budget.ts';
import { DeferError } from '../../../shared/http/errors.ts';
import { resetBuckets } from '../../../shared/http/token-bucket.ts';
import type { HttpRuntime } from '../../../shared/providers/types.ts';
import {
  resetConnection,
  sendJson,
  sequence,
  simulatedClock,
  startServer,
  type TestServer,
} from '../../helpers/http-server.ts';

/** RATE_PLAN_SCALE: the plans a spec's client starts from, for a sandbox whose clock runs N times real time. */

let server: TestServer | undefined;
let n = 0;
afterEach(async () => {
  await server?.close();
  server = undefined;
  resetBuckets();
});

// SP-API's getInvoicesDocument: one request a minute, no burst to speak of.
const SLOW = { rate: 0.0167, burst: 1 };

async function clientFor(ratePlanScale?: number) {
  // The first request gets no answer at all (a reset), so no rate header corrects the plan.
  server = await startServer(sequence(resetConnection, (_req, res) => sendJson(res, 200, { ok: true })));
  const url = server.url;
  const clock = simulatedClock();
  const spec: ClientSpec<Connection> = {
    baseUrl: () => url,
    auth: 'lwa-x-amz-access-token',
    operations: { getDocument: SLOW },
    downloadHosts: [],
  };
  const runtime: HttpRuntime = {
    budget: budgetUntil(clock.now() + 600_000, clock.now),
    log: { debug() {}, info() {}, warn() {}, error() {} },
    onEvent: () => {},
    allowLoopback: true,
    extraDownloadHosts: [],
    deferThresholdMs: 5_000,
    ...(ratePlanScale !== undefined ? { ratePlanScale } : {}),
  };
  const http = specHttp('sp-api', spec, { id: `c-${++n}` } as Connection, {}, runtime, {
    auth: undefined,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
  });
  return { http, clock };
}

describe('specHttp with RATE_PLAN_SCALE', () => {
  it('hands a retry back to the queue for a real-time minute when the plan is not scaled', async () => {
    const { http } = await clientFor();
    expect(http.rate?.('getDocument')).toBe(SLOW.rate);
    const err = await http.request('getDocument', { path: '/doc' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeferError);
    expect(server!.requests).toHaveLength(1);
  });

  it('in a sandbox 60 times real time, retries after the scaled interval (about a second) and lands', async () => {
    const { http, clock } = await clientFor(60);
    expect(http.rate?.('getDocument')).toBeCloseTo(SLOW.rate * 60, 9);
    const res = await http.request('getDocument', { path: '/doc' });
    expect(res.status).toBe(200);
    expect(server!.requests).toHaveLength(2);
    // The retry waited for the plan's next slot (1 / 1.002 per second), not a minute.
    expect(Math.max(...clock.slept)).toBeLessThanOrEqual(1_000);
  });

  it('scales rates only: bursts and the other fields are the plan as written, and a scale of 1 changes nothing', () => {
    const ops = { a: { rate: 2, burst: 15, shared: true, idempotent: false } };
    expect(scalePlans(ops, 10)).toEqual({ a: { rate: 20, burst: 15, shared: true, idempotent: false } });
    expect(scalePlans(ops, 1)).toBe(ops);
  });
});
