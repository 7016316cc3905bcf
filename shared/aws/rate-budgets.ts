import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { RateKey, Reservation, SharedPlan, SharedRate } from '../http/shared-rate.ts';
import { isConditionFailure, ttl } from './state-table.ts';

/** A call that takes longer than this is taken as the table being out of reach. */
const CALL_TIMEOUT_MS = 2_000;
/** After a failed call, the containers' own buckets pace alone this long before the table is tried again. */
const PAUSE_AFTER_FAILURE_MS = 30_000;

export class RateBudgetUnavailableError extends Error {
  override name = 'RateBudgetUnavailableError';
}

/**
 * Rate budgets in the state table, one item per provider, connection and operation (`RATE#<provider>#<connection>`
 * / `<operation>`), shared by every container that calls it. The item holds `bookedUntil`: every slot taken
 * books one `interval` (1 / rate) more, starting from now when the plan was idle, and a request goes at once
 * while the booking reaches at most burst - 1 intervals past now (the generic cell rate algorithm: a token
 * bucket kept as one number, so one conditional write takes a slot). A slot further off than the caller will
 * wait is not taken: the caller hands its work back to the queue and nothing is held for it. When a container
 * comes with another rate (x-amzn-RateLimit-Limit corrected it), what is booked past now is converted to it:
 * the debt is in requests, as a token bucket's would be, not in the time the old rate gave them. The item
 * also says whether its rate is one the provider told (`told`): a container that has only the documented
 * default (new, or not yet answered) takes that rate instead of converting the plan back to its default, so
 * a seller's own plan is learned once per connection, not once per container.
 */
export class RateBudgets implements SharedRate {
  /** Where each plan's booking stood at this container's last write: which of the two writes to try first. */
  readonly #seen = new Map<string, number>();
  #pausedUntil = 0;

  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly now: () => number = Date.now,
    private readonly timeoutMs = CALL_TIMEOUT_MS,
  ) {}

  reserve(key: RateKey, plan: SharedPlan, maxWaitMs: number): Promise<Reservation> {
    return this.#guarded(key, (now) => this.#reserve(key, plan, Math.max(0, maxWaitMs), now));
  }

  tell(key: RateKey, plan: SharedPlan): Promise<void> {
    return this.#guarded(key, async (now) => {
      const interval = intervalOf(plan.rate);
      const item = await this.#read(key);
      // Nothing booked yet: the first slot's idle booking writes the told rate.
      if (!item || (item.interval === interval && item.told)) return;
      await this.#convert(key, item, now, interval, true);
    });
  }

  /** A call to the table, failing fast (and for a while) once the table has failed. */
  async #guarded<T>(key: RateKey, call: (now: number) => Promise<T>): Promise<T> {
    const now = this.now();
    if (now < this.#pausedUntil) {
      throw new RateBudgetUnavailableError(
        `rate budget ${describe(key)}: the state table failed less than ${PAUSE_AFTER_FAILURE_MS / 1000} s ago`,
      );
    }
    try {
      return await call(now);
    } catch (err) {
      this.#pausedUntil = now + PAUSE_AFTER_FAILURE_MS;
      throw new RateBudgetUnavailableError(`rate budget ${describe(key)}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async #reserve(key: RateKey, plan: SharedPlan, maxWaitMs: number, now: number): Promise<Reservation> {
    const id = describe(key);
    let interval = intervalOf(plan.rate);
    let told = plan.told === true;
    // Set when this container takes the rate the item says the provider told another.
    let toldRate: number | undefined;
    const seen = this.#seen.get(id);
    const idleFirst = seen === undefined || seen <= now;
    // A write can lose to another container's between two tries, so a few rounds before giving up.
    for (let round = 0; round < 3; round++) {
      // How far past now the booking may reach with the request still going at once: the rest of the burst.
      const tolerance = (plan.burst - 1) * interval;
      for (const idle of idleFirst ? [true, false] : [false, true]) {
        const booked = idle
          ? await this.#bookIdle(key, now, interval, told)
          : await this.#bookQueued(key, now, interval, now + tolerance + maxWaitMs);
        if (booked === undefined) continue;
        this.#seen.set(id, booked);
        const waitMs = Math.max(0, Math.ceil(booked - interval - tolerance - now));
        return { reserved: true, waitMs, ...(toldRate !== undefined ? { toldRate } : {}) };
      }
      // Neither write took: the plan is booked beyond what the caller would wait (the usual case), booked at
      // another rate, or changed in between.
      const item = await this.#read(key);
      if (!item) continue;
      if (item.interval !== interval) {
        if (item.told && !told) {
          interval = item.interval;
          told = true;
          toldRate = 1000 / interval;
        } else {
          await this.#convert(key, item, now, interval, told);
        }
        continue;
      }
      if (item.bookedUntil > now + tolerance + maxWaitMs) {
        this.#seen.set(id, item.bookedUntil);
        return {
          reserved: false,
          waitMs: Math.ceil(item.bookedUntil - tolerance - now),
          ...(toldRate !== undefined ? { toldRate } : {}),
        };
      }
    }
    throw new Error('the booking kept changing under this container (3 rounds)');
  }

  /**
   * An idle plan (never booked, or booked only up to now): the slot is now, the booking one interval on.
   * A container with only the default rate does not set it over a rate the provider told.
   */
  async #bookIdle(key: RateKey, now: number, interval: number, told: boolean): Promise<number | undefined> {
    const booked = now + interval;
    const idle = 'attribute_not_exists(bookedUntil) OR bookedUntil <= :now';
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: itemKey(key),
          // Told: the item says so. Not told: the item keeps what it said (its rate, if told, is this one).
          UpdateExpression: `SET bookedUntil = :booked, #interval = :interval, expiresAt = :ttl${told ? ', told = :true' : ''}`,
          ConditionExpression: told
            ? idle
            : `(${idle}) AND (attribute_not_exists(told) OR told = :false OR #interval = :interval)`,
          ExpressionAttributeNames: { '#interval': 'interval' },
          ExpressionAttributeValues: {
            ':booked': booked,
            ':interval': interval,
            ...(told ? { ':true': true } : { ':false': false }),
            ':now': now,
            ':ttl': ttl(1, new Date(now)),
          },
        }),
        { abortSignal: AbortSignal.timeout(this.timeoutMs) },
      );
      return booked;
    } catch (err) {
      if (isConditionFailure(err)) return undefined;
      throw err;
    }
  }

  /** A plan booked past now at this rate: one interval more, if the slot that gives comes within `limit`. */
  async #bookQueued(key: RateKey, now: number, interval: number, limit: number): Promise<number | undefined> {
    try {
      const out = await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: itemKey(key),
          UpdateExpression: 'SET bookedUntil = bookedUntil + :interval, expiresAt = :ttl',
          ConditionExpression: 'bookedUntil > :now AND bookedUntil <= :limit AND #interval = :interval',
          ExpressionAttributeNames: { '#interval': 'interval' },
          ExpressionAttributeValues: {
            ':interval': interval,
            ':now': now,
            ':limit': limit,
            ':ttl': ttl(1, new Date(now)),
          },
          ReturnValues: 'UPDATED_NEW',
        }),
        { abortSignal: AbortSignal.timeout(this.timeoutMs) },
      );
      return Number(out.Attributes?.bookedUntil);
    } catch (err) {
      if (isConditionFailure(err)) return undefined;
      throw err;
    }
  }

  async #read(key: RateKey): Promise<Booking | undefined> {
    const out = await this.ddb.send(
      new GetCommand({ TableName: this.table, Key: itemKey(key), ConsistentRead: true }),
      { abortSignal: AbortSignal.timeout(this.timeoutMs) },
    );
    const { bookedUntil, interval, told } = out.Item ?? {};
    return typeof bookedUntil === 'number' && typeof interval === 'number'
      ? { bookedUntil, interval, told: told === true }
      : undefined;
  }

  /** The requests booked past now, re-booked at this container's interval (unless another container moved it first). */
  async #convert(key: RateKey, item: Booking, now: number, interval: number, told: boolean): Promise<void> {
    const ahead = Math.max(0, item.bookedUntil - now);
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: itemKey(key),
          UpdateExpression: 'SET bookedUntil = :booked, #interval = :interval, told = :told',
          ConditionExpression: 'bookedUntil = :was AND #interval = :wasInterval',
          ExpressionAttributeNames: { '#interval': 'interval' },
          ExpressionAttributeValues: {
            ':booked': now + (ahead / item.interval) * interval,
            ':interval': interval,
            ':told': told,
            ':was': item.bookedUntil,
            ':wasInterval': item.interval,
          },
        }),
        { abortSignal: AbortSignal.timeout(this.timeoutMs) },
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }
}

interface Booking {
  bookedUntil: number;
  interval: number;
  /** The interval is a rate the provider told (x-amzn-RateLimit-Limit), not a spec's default. */
  told: boolean;
}

/**
 * A rate's interval in ms, to the microsecond: a rate taken back from an item (1000 / interval) then gives
 * the same interval again, which the conditional writes compare exactly.
 */
function intervalOf(rate: number): number {
  return Math.round(1_000_000 / rate) / 1000;
}

function itemKey(key: RateKey): { pk: string; sk: string } {
  return { pk: `RATE#${key.provider}#${key.connection}`, sk: key.operation };
}

function describe(key: RateKey): string {
  return `${key.provider}:${key.connection}:${key.operation}`;
}
