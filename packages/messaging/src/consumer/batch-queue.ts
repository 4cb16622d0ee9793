/**
 * Gathers items that arrive together and hands them to `process` in batches: a batch starts on
 * the next macrotask turn after its first item (so every delivery the transport dispatched in the
 * same turn joins it), holds at most `maxSize` items in arrival order, and at most `concurrency`
 * batches run at once; the items waiting are spread evenly over the free slots, and items
 * arriving meanwhile wait and form the next batches. Under load this makes batches as large as
 * the backlog allows, and a lone message waits for no timer.
 */
export class BatchQueue<T> {
  readonly #process: (items: T[]) => Promise<void>;
  readonly #maxSize: number;
  readonly #concurrency: number;
  #waiting: { item: T; done: () => void }[] = [];
  #running = 0;
  #scheduled = false;

  constructor(options: { process: (items: T[]) => Promise<void>; maxSize: number; concurrency: number }) {
    this.#process = options.process;
    this.#maxSize = options.maxSize;
    this.#concurrency = options.concurrency;
  }

  /** Queues `item`; resolves once the batch it joined has been processed (never rejects). */
  add(item: T): Promise<void> {
    return new Promise((done) => {
      this.#waiting.push({ item, done });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#running >= this.#concurrency || this.#waiting.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#drain();
    });
  }

  #drain(): void {
    while (this.#running < this.#concurrency && this.#waiting.length > 0) {
      // Spreading the backlog over every free slot keeps transactions overlapping: while one
      // commits (waiting for its WAL flush) the next ones are already running their handlers.
      const free = this.#concurrency - this.#running;
      const size = Math.min(this.#maxSize, Math.ceil(this.#waiting.length / free));
      const batch = this.#waiting.splice(0, size);
      this.#running++;
      void this.#process(batch.map((entry) => entry.item))
        .catch(() => undefined)
        .finally(() => {
          this.#running--;
          for (const entry of batch) entry.done();
          this.#schedule();
        });
    }
  }
}
