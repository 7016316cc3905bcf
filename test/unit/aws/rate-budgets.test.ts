import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateBudgets, RateBudgetUnavailableError } from '../../../shared/aws/rate-budgets.ts';
import { type StateTable, startStateTable } from '../../helpers/state-table.ts';

/**
 * The rate plans the containers share, against dynalite (DynamoDB's API in memory): each container is its own
 * RateBudgets over the same table, as each Lambda container builds its own. Together they get one burst and
 * one rate; a slot further off than the caller would wait is not taken.
 */

let db: StateTable;
let n = 0;

beforeAll(async () => {
  db = await startStateTable('rate-test');
});

afterAll(async () => {
  await db?.close();
});

function setup() {
  let t = 1_800_000_000_000;
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  const key = { provider: 'sp-api', connection: `conn-${++n}`, operation: 'getInvoices' };
  const container = () => new RateBudgets(db.ddb, db.table, clock.now);
  return { clock, key, container };
}

describe('RateBudgets', () => {
  it('gives two containers one burst between them, then one slot an interval', async () => {
    const { key, container } = setup();
    const [a, b] = [container(), container()];
    const plan = { rate: 1, burst: 3 };
    const waits: number[] = [];
    for (const c of [a, b, a, b, a, b]) waits.push((await c.reserve(key, plan, 60_000)).waitMs);
    expect(waits).toEqual([0, 0, 0, 1000, 2000, 3000]);
  });

  it('takes nothing when the slot is further off than the caller would wait, and says how far', async () => {
    const { clock, key, container } = setup();
    const a = container();
    const plan = { rate: 0.1, burst: 2 };
    expect(await a.reserve(key, plan, 5_000)).toEqual({ reserved: true, waitMs: 0 });
    expect(await a.reserve(key, plan, 5_000)).toEqual({ reserved: true, waitMs: 0 });
    // The third slot is 10 s away: not taken, however often another container asks.
    expect(await container().reserve(key, plan, 5_000)).toEqual({ reserved: false, waitMs: 10_000 });
    expect(await a.reserve(key, plan, 5_000)).toEqual({ reserved: false, waitMs: 10_000 });
    clock.advance(6_000);
    expect(await a.reserve(key, plan, 5_000)).toEqual({ reserved: true, waitMs: 4_000 });
  });

  it('fills up again while idle, to the burst and no more', async () => {
    const { clock, key, container } = setup();
    const a = container();
    const plan = { rate: 2, burst: 2 };
    for (let i = 0; i < 4; i++) await a.reserve(key, plan, 60_000);
    clock.advance(60_000);
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) waits.push((await container().reserve(key, plan, 60_000)).waitMs);
    expect(waits).toEqual([0, 0, 500]);
  });

  it('converts what is booked to a corrected rate: the debt is in requests, not in time at the old rate', async () => {
    const { key, container } = setup();
    await container().reserve(key, { rate: 0.1, burst: 1 }, 60_000);
    // At the seeded 0.1/s the next slot is 10 s away; x-amzn-RateLimit-Limit said 1/s, so it is 1 s away.
    expect(await container().reserve(key, { rate: 1, burst: 1 }, 60_000)).toEqual({
      reserved: true,
      waitMs: 1_000,
    });
  });

  it('a container with only the default plan takes the rate the provider told another, not its default', async () => {
    const { key, container } = setup();
    // A told 1/s (x-amzn-RateLimit-Limit); the documented default is 0.1/s.
    await container().reserve(key, { rate: 1, burst: 1, told: true }, 60_000);
    // Converted to the default, the next slot would be 10 s away: not within the 5 s this caller waits.
    expect(await container().reserve(key, { rate: 0.1, burst: 1 }, 5_000)).toEqual({
      reserved: true,
      waitMs: 1_000,
      toldRate: 1,
    });
    // The plan is still the told one for the next container.
    expect(await container().reserve(key, { rate: 0.1, burst: 1 }, 5_000)).toMatchObject({ waitMs: 2_000 });
  });

  it('keeps a told rate over an idle spell, and a newer told rate replaces it', async () => {
    const { clock, key, container } = setup();
    await container().reserve(key, { rate: 1 / 3, burst: 1, told: true }, 60_000);
    clock.advance(60_000);
    const idle = await container().reserve(key, { rate: 0.1, burst: 1 }, 0);
    expect(idle).toEqual({ reserved: true, waitMs: 0, toldRate: 1000 / 3000 });
    // Taken back as 1000 / interval, the rate gives the same interval: no conversion, the next slot 3 s on.
    expect(await container().reserve(key, { rate: idle.toldRate!, burst: 1, told: true }, 5_000)).toEqual({
      reserved: true,
      waitMs: 3_000,
    });
    // The provider now says 2/s: the debt (one request booked ahead) is converted to it.
    expect(await container().reserve(key, { rate: 2, burst: 1, told: true }, 5_000)).toEqual({
      reserved: true,
      waitMs: 1_000,
    });
    expect(await container().reserve(key, { rate: 0.1, burst: 1 }, 5_000)).toMatchObject({ toldRate: 2 });
  });

  it('takes a told rate at once, with what is booked converted to it', async () => {
    const { key, container } = setup();
    const a = container();
    await a.reserve(key, { rate: 0.1, burst: 1 }, 60_000);
    // a's answer said 1/s: the one request booked ahead is 1 s of the plan, not 10 s, for every container.
    await a.tell(key, { rate: 1, burst: 1, told: true });
    expect(await container().reserve(key, { rate: 0.1, burst: 1 }, 5_000)).toEqual({
      reserved: true,
      waitMs: 1_000,
      toldRate: 1,
    });
  });

  it('keeps each operation and connection apart', async () => {
    const { key, container } = setup();
    const a = container();
    const plan = { rate: 0.1, burst: 1 };
    await a.reserve(key, plan, 0);
    expect((await a.reserve({ ...key, operation: 'getInvoicesExports' }, plan, 0)).reserved).toBe(true);
    expect((await a.reserve({ ...key, connection: `${key.connection}-b` }, plan, 0)).reserved).toBe(true);
    expect((await a.reserve(key, plan, 0)).reserved).toBe(false);
  });

  it('fails fast when the table is out of reach, and keeps failing at once for a while', async () => {
    const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
    const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
    const closed = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        region: 'us-east-1',
        // Nothing listens on port 9 of loopback: every call is refused.
        endpoint: 'http://127.0.0.1:9',
        credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
        maxAttempts: 1,
      }),
    );
    try {
      const { clock, key } = setup();
      const budgets = new RateBudgets(closed, 'rate-test', clock.now);
      const plan = { rate: 1, burst: 1 };
      await expect(budgets.reserve(key, plan, 0)).rejects.toBeInstanceOf(RateBudgetUnavailableError);
      await expect(budgets.reserve(key, plan, 0)).rejects.toThrow(/failed less than 30 s ago/);
      clock.advance(30_000);
      await expect(budgets.reserve(key, plan, 0)).rejects.toThrow(/ECONNREFUSED|connect/);
    } finally {
      closed.destroy();
    }
  });
});
