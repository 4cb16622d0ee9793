import type { Logger } from "@flotilla/observability";
import { type Clock, ConfigReader, type TimerHandle } from "@flotilla/resilience";

/** Options of {@link SelfPreservation}. */
export interface SelfPreservationOptions {
  /** Reads time for the sliding window and runs the exit timer. Default the system clock. */
  readonly clock?: Clock;
  /** Epoch milliseconds, for `stats().since`. Default `Date.now`. */
  readonly wallClock?: () => number;
  /**
   * The share of leases lapsed within the window above which expiry is suspended, in (0, 1].
   * Default 0.5: more than half.
   */
  readonly threshold?: number;
  /** The sliding window lapses are counted in; whole seconds, at least 1 s. Default 30 s. */
  readonly windowMs?: number;
  /** No self-preservation with fewer leases (live plus lapsed) than this: small registries just expire. Default 5. */
  readonly minLeases?: number;
  /** How long the share must stay at or below the threshold before the mode ends. Default `windowMs`. */
  readonly exitAfterMs?: number;
  /** Gets a warning when the mode starts and an info line when it ends. Default none. */
  readonly logger?: Logger;
  /** Called when the mode starts (`true`) and ends (`false`). */
  readonly onChange?: (active: boolean) => void;
}

/** What {@link SelfPreservation.stats} reports. */
export interface SelfPreservationStats {
  readonly active: boolean;
  /** Lapses recorded within the window now. */
  readonly lapsesInWindow: number;
  /** Epoch ms the mode started at, while active. */
  readonly since?: number;
}

const bucketMs = 1000;

/**
 * Eureka's self-preservation for the registry
 * (https://github.com/Netflix/eureka/wiki/Server-Self-Preservation-Mode): when many leases lapse
 * at once the likelier cause is a network partition between the registry and its instances, not
 * that they all died, so expiring them would empty the registry of healthy instances. The server
 * asks {@link SelfPreservation.allowExpiry} before expiring lapsed leases; while more than
 * `threshold` of the leases (live plus lapsed within the last `windowMs`) have lapsed, and there
 * are at least `minLeases`, the mode is on and it answers false. The mode ends once the share has
 * stayed at or below the threshold for `exitAfterMs` (checked on each call and by an unref'd
 * once-a-second timer that runs only while the mode is on).
 *
 * Lapses are counted in a ring of one-second buckets, so a call costs O(1) (amortised) and the
 * window is accurate to a second.
 */
export class SelfPreservation {
  readonly #clock: Clock;
  readonly #wallClock: () => number;
  readonly #threshold: number;
  readonly #windowMs: number;
  readonly #minLeases: number;
  readonly #exitAfterMs: number;
  readonly #logger: Logger | undefined;
  readonly #onChange: ((active: boolean) => void) | undefined;
  readonly #buckets: number[];
  /** The second (clock / 1000, floored) the newest bucket belongs to. */
  #headSecond: number;
  #inWindow = 0;
  #liveLeases = 0;
  #active = false;
  #since: number | undefined;
  /** Clock reading from which the share has been at or below the threshold, while active. */
  #belowSince: number | undefined;
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(options: SelfPreservationOptions = {}) {
    const reader = new ConfigReader();
    const obj = reader.object(options, "");
    reader.knownKeys(
      obj,
      ["clock", "wallClock", "threshold", "windowMs", "minLeases", "exitAfterMs", "logger", "onChange"],
      "",
    );
    this.#clock = reader.clock(obj, "clock", "");
    this.#wallClock = reader.fn<() => number>(obj, "wallClock", "") ?? Date.now;
    this.#threshold = reader.number(obj, "threshold", "", 0.5, { above: 0, max: 1 });
    this.#windowMs = reader.number(obj, "windowMs", "", 30_000, { min: bucketMs, max: 3_600_000 });
    if (this.#windowMs % bucketMs !== 0) {
      reader.issue("windowMs", `must be whole seconds, got ${this.#windowMs} ms`);
    }
    this.#minLeases = reader.number(obj, "minLeases", "", 5, { integer: true, min: 0 });
    this.#exitAfterMs = reader.number(obj, "exitAfterMs", "", this.#windowMs, { min: 0 });
    const logger = obj.logger as Partial<Logger> | undefined;
    if (logger !== undefined && (typeof logger !== "object" || typeof logger?.warn !== "function")) {
      reader.issue("logger", "expected a Logger");
    }
    this.#logger = logger as Logger | undefined;
    this.#onChange = reader.fn<(active: boolean) => void>(obj, "onChange", "");
    reader.throwIfInvalid();
    this.#buckets = new Array<number>(Math.ceil(this.#windowMs / bucketMs)).fill(0);
    this.#headSecond = this.#second();
  }

  /** True while expiry is suspended. */
  get active(): boolean {
    return this.#active;
  }

  /**
   * Records `lapsedCount` leases lapsing now (0 just re-evaluates) among `liveLeases` leases still
   * live, and answers whether the server may expire them: false while the mode is on, including
   * the `exitAfterMs` it takes to end. Starts the mode when more than `threshold` of
   * `liveLeases + lapses in the window` lapsed within the window and that total is at least
   * `minLeases`.
   */
  allowExpiry(lapsedCount: number, liveLeases: number): boolean {
    if (!(Number.isInteger(lapsedCount) && lapsedCount >= 0)) {
      throw new RangeError(
        `selfPreservation.allowExpiry: lapsedCount must be a whole number ≥ 0, got ${lapsedCount}`,
      );
    }
    if (!(Number.isInteger(liveLeases) && liveLeases >= 0)) {
      throw new RangeError(
        `selfPreservation.allowExpiry: liveLeases must be a whole number ≥ 0, got ${liveLeases}`,
      );
    }
    this.#advance();
    const head = this.#slot(this.#headSecond);
    this.#buckets[head] = (this.#buckets[head] as number) + lapsedCount;
    this.#inWindow += lapsedCount;
    this.#liveLeases = liveLeases;
    this.#evaluate();
    return !this.#active;
  }

  /** The mode, the lapses in the window and when the mode started. */
  stats(): SelfPreservationStats {
    this.#advance();
    return {
      active: this.#active,
      lapsesInWindow: this.#inWindow,
      ...(this.#since === undefined ? {} : { since: this.#since }),
    };
  }

  /** Stops the exit timer. The mode stays as it is; later calls still count but start no timer. */
  close(): void {
    this.#closed = true;
    this.#stopTimer();
  }

  #evaluate(): void {
    const total = this.#liveLeases + this.#inWindow;
    const over = this.#inWindow / Math.max(total, 1) > this.#threshold && total >= this.#minLeases;
    const now = this.#clock.now();
    if (over) {
      this.#belowSince = undefined;
      if (!this.#active) this.#enter(total);
      return;
    }
    if (!this.#active) return;
    this.#belowSince ??= now;
    if (now - this.#belowSince >= this.#exitAfterMs) this.#exit();
  }

  #enter(total: number): void {
    this.#active = true;
    this.#since = this.#wallClock();
    this.#logger?.warn(
      { lapses: this.#inWindow, leases: total, windowMs: this.#windowMs },
      `self-preservation on: ${this.#inWindow} of ${total} leases lapsed within ${formatWindow(this.#windowMs)}; expiry suspended`,
    );
    this.#startTimer();
    this.#emit(true);
  }

  #exit(): void {
    this.#active = false;
    this.#since = undefined;
    this.#belowSince = undefined;
    this.#stopTimer();
    this.#logger?.info(
      { lapses: this.#inWindow, leases: this.#liveLeases + this.#inWindow },
      "self-preservation off: lease expiry resumed",
    );
    this.#emit(false);
  }

  #emit(active: boolean): void {
    try {
      this.#onChange?.(active);
    } catch (error) {
      this.#logger?.error({ err: error }, "self-preservation: onChange threw");
    }
  }

  #startTimer(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = this.#clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#advance();
        this.#evaluate();
        if (this.#active) this.#startTimer();
      },
      bucketMs,
      true,
    );
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Empties the buckets of the seconds that have left the window since the last call. */
  #advance(): void {
    const second = this.#second();
    const n = this.#buckets.length;
    if (second - this.#headSecond >= n) {
      this.#buckets.fill(0);
      this.#inWindow = 0;
    } else {
      for (let s = this.#headSecond + 1; s <= second; s++) {
        const i = this.#slot(s);
        this.#inWindow -= this.#buckets[i] as number;
        this.#buckets[i] = 0;
      }
    }
    if (second > this.#headSecond) this.#headSecond = second;
  }

  #slot(second: number): number {
    const n = this.#buckets.length;
    return ((second % n) + n) % n;
  }

  #second(): number {
    return Math.floor(this.#clock.now() / bucketMs);
  }
}

/** Creates a {@link SelfPreservation}. */
export function selfPreservation(options: SelfPreservationOptions = {}): SelfPreservation {
  return new SelfPreservation(options);
}

function formatWindow(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}
