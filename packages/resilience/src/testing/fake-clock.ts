import type { Clock, TimerHandle } from "../clock.js";

interface FakeTimer {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

/**
 * A manual clock for tests. Time moves only through {@link FakeClock.advance}, which fires due
 * timers in order and lets promise callbacks run between them, so timed behaviour is exact and
 * no test sleeps.
 */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers: FakeTimer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer: FakeTimer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), callback };
    this.#timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    const index = this.#timers.indexOf(handle as FakeTimer);
    if (index >= 0) this.#timers.splice(index, 1);
  }

  /** Timers scheduled and not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due, earliest first, and letting
   * pending promise callbacks run before and after each one.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await flushMicrotasks();
    for (;;) {
      const next = this.#earliestDue(target);
      if (next === undefined) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#now = next.at;
      next.callback();
      await flushMicrotasks();
    }
    this.#now = target;
    await flushMicrotasks();
  }

  /** Moves time without firing timers; for code that only reads `now()`. */
  set(now: number): void {
    this.#now = now;
  }

  /** Runs pending promise callbacks without moving time. */
  flush(): Promise<void> {
    return flushMicrotasks();
  }

  #earliestDue(target: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const timer of this.#timers) {
      if (
        timer.at <= target &&
        (best === undefined || timer.at < best.at || (timer.at === best.at && timer.id < best.id))
      )
        best = timer;
    }
    return best;
  }
}

/** Lets every queued promise callback run: a macrotask turn drains the microtask queue first. */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
