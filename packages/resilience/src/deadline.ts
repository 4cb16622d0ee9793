import { type Clock, systemClock } from "./clock.js";

/**
 * An absolute point in time by which a call must finish. Nested calls read {@link Deadline.remaining}
 * so that one total timeout covers retries and downstream hops.
 */
export class Deadline {
  /** The moment of expiry, on `clock`'s time line. */
  readonly at: number;
  readonly #clock: Clock;

  constructor(at: number, clock: Clock = systemClock) {
    this.at = at;
    this.#clock = clock;
  }

  /** Milliseconds left, never negative. */
  remaining(): number {
    const left = this.at - this.#clock.now();
    return Math.max(left, 0);
  }

  /** True once no time is left. */
  get expired(): boolean {
    return this.#clock.now() >= this.at;
  }

  /** A deadline `ms` from now. */
  static after(ms: number, clock: Clock = systemClock): Deadline {
    return new Deadline(clock.now() + ms, clock);
  }

  /** The earlier of an existing deadline (if any) and one `ms` from now. */
  static within(existing: Deadline | undefined, ms: number, clock: Clock = systemClock): Deadline {
    const at = clock.now() + ms;
    return existing !== undefined && existing.at <= at ? existing : new Deadline(at, clock);
  }
}
