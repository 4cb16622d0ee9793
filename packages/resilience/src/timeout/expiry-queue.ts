import type { Clock, TimerHandle } from "../clock.js";

/**
 * An entry of an {@link ExpiryQueue}. The queue links entries through their own fields, so
 * queuing allocates nothing and removal from the middle is O(1).
 * @internal
 */
export interface ExpiryEntry {
  /** The previous entry, managed by the queue. */
  prev: ExpiryEntry | undefined;
  /** The next entry, managed by the queue. */
  next: ExpiryEntry | undefined;
  /** When the entry expires, on the queue's clock; `Infinity` for never. */
  readonly expiresAt: number;
  /** Called once when the entry's time has come, after the queue has removed it. */
  expire(): void;
}

/** A timer handle that may be Node's, whose hold on the process can be dropped and taken again. */
interface Refable {
  ref?(): unknown;
  unref?(): unknown;
}

/**
 * A FIFO whose entries expire in the order they were queued (each entry's `expiresAt` is not
 * earlier than the one before it), watched by at most one clock timer for the whole queue.
 * Entries leave from the front ({@link ExpiryQueue.shift}), from anywhere
 * ({@link ExpiryQueue.remove}), or by expiring.
 *
 * The timer is armed for the front entry. When the front leaves early, the timer is left as it is
 * and re-armed for the new front when it fires; it is left alone even when the queue empties, so
 * that calls made one after another cost no timer work at all (arming and clearing a Node timer
 * for each of them costs ~300 ns, more than everything else a timeout does). A timer that fires
 * on an empty queue is not re-armed. While the queue is empty, a timer whose handle has `unref`
 * (Node's) is unref'd, so an idle queue never keeps the process alive; entries in the queue do.
 * @internal
 */
export class ExpiryQueue<E extends ExpiryEntry> {
  #head: E | undefined;
  #tail: E | undefined;
  #size = 0;
  readonly #clock: Clock | undefined;
  #timer: TimerHandle | undefined;
  readonly #onTimer = (): void => this.#expireDue();

  /** Without a clock, entries never expire and no timer is ever set. */
  constructor(clock: Clock | undefined) {
    this.#clock = clock;
  }

  /** Entries in the queue. */
  get size(): number {
    return this.#size;
  }

  /** The newest entry. */
  get last(): E | undefined {
    return this.#tail;
  }

  /**
   * Appends `entry`, whose `expiresAt` must not be earlier than the last entry's; returns false
   * (and queues nothing) if it is, so the caller can give that entry a timer of its own.
   * `now` is the clock's current time, passed in by callers that have just read it.
   */
  push(entry: E, now: number): boolean {
    const tail = this.#tail;
    if (tail === undefined) {
      this.#head = entry;
      if (this.#timer === undefined) this.#arm(entry.expiresAt - now);
      else (this.#timer as Refable).ref?.();
    } else {
      if (entry.expiresAt < tail.expiresAt) return false;
      tail.next = entry;
      entry.prev = tail;
    }
    this.#tail = entry;
    this.#size++;
    return true;
  }

  /** Removes and returns the oldest entry. */
  shift(): E | undefined {
    const head = this.#head;
    if (head !== undefined) this.#unlink(head);
    return head;
  }

  /** Removes `entry` if it is still queued; returns whether it was. */
  remove(entry: E): boolean {
    if (entry.prev === undefined && this.#head !== entry) return false;
    this.#unlink(entry);
    return true;
  }

  #unlink(entry: E): void {
    const { prev, next } = entry;
    if (prev === undefined) this.#head = next as E | undefined;
    else prev.next = next;
    if (next === undefined) this.#tail = prev as E | undefined;
    else next.prev = prev;
    entry.prev = undefined;
    entry.next = undefined;
    if (--this.#size === 0 && this.#timer !== undefined) (this.#timer as Refable).unref?.();
  }

  #arm(delayMs: number): void {
    if (this.#clock !== undefined && delayMs !== Number.POSITIVE_INFINITY) {
      this.#timer = this.#clock.setTimeout(this.#onTimer, delayMs);
    }
  }

  #expireDue(): void {
    this.#timer = undefined;
    const now = this.#clock!.now();
    // Re-read the front each time: an expiring entry may synchronously queue or remove others.
    for (let head = this.#head; head !== undefined && head.expiresAt <= now; head = this.#head) {
      this.#unlink(head);
      head.expire();
    }
    const head = this.#head;
    if (head !== undefined && this.#timer === undefined) this.#arm(head.expiresAt - now);
  }
}
