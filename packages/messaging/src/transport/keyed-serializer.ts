/**
 * Runs tasks one after another per key and concurrently across keys, so that a transport can
 * hand several deliveries to handlers at once and still keep each partition key in order. Tasks
 * without a key run at once.
 */
export class KeyedSerializer {
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Keys with a task running or waiting. */
  get size(): number {
    return this.#tails.size;
  }

  /** Runs `task` after every task queued before it under `key`; resolves or rejects as it does. */
  run<T>(key: string | undefined, task: () => Promise<T>): Promise<T> {
    if (key === undefined) return task();
    const previous = this.#tails.get(key);
    const next = previous === undefined ? task() : previous.then(task, task);
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return next;
  }
}
