import type { Clock, TimerHandle } from "@flotilla/resilience";
import type { Store } from "../store/store.js";

/** What {@link StoreHealth} needs. */
export interface StoreHealthOptions {
  readonly store: Store;
  readonly clock: Clock;
  /** How long the store may take to answer before it counts as unreachable. */
  readonly timeoutMs: number;
  /** How long an answer is reused, so frequent `/health` polls cost the store little. */
  readonly cacheMs: number;
}

/** Whether the store answered, and why not. */
export type StoreHealthResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * The store check behind `GET /health`: asks the store for its current index (on etcd one cheap
 * round trip, in the embedded store a memory read) with a deadline, and reuses the answer for
 * `cacheMs`. Checks asked for while one is under way share it.
 */
export class StoreHealth {
  readonly #o: StoreHealthOptions;
  #last: { readonly at: number; readonly result: StoreHealthResult } | undefined;
  #pending: Promise<StoreHealthResult> | undefined;

  constructor(options: StoreHealthOptions) {
    this.#o = options;
  }

  /** The store's health, from cache when the last answer is younger than `cacheMs`. */
  check(): Promise<StoreHealthResult> {
    const last = this.#last;
    if (last !== undefined && this.#o.clock.now() - last.at < this.#o.cacheMs) {
      return Promise.resolve(last.result);
    }
    this.#pending ??= this.#probe().then((result) => {
      this.#last = { at: this.#o.clock.now(), result };
      this.#pending = undefined;
      return result;
    });
    return this.#pending;
  }

  async #probe(): Promise<StoreHealthResult> {
    const { store, clock, timeoutMs } = this.#o;
    let timer: TimerHandle | undefined;
    const timeout = new Promise<StoreHealthResult>((resolve) => {
      timer = clock.setTimeout(
        () => resolve({ ok: false, reason: `the ${store.kind} store did not answer within ${timeoutMs} ms` }),
        timeoutMs,
        true,
      );
    });
    let answer: Promise<StoreHealthResult>;
    try {
      answer = store.currentIndex().then(
        () => ({ ok: true }) as const,
        (error: unknown) => ({ ok: false, reason: `the ${store.kind} store failed: ${describe(error)}` }),
      );
    } catch (error) {
      answer = Promise.resolve({ ok: false, reason: `the ${store.kind} store failed: ${describe(error)}` });
    }
    try {
      return await Promise.race([answer, timeout]);
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
