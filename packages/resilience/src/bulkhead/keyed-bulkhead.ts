import { ConfigReader } from "../config/config-reader.js";
import { emptyContext, type Operation, type Policy, type PolicyContext } from "../policy-context.js";
import { Bulkhead, type BulkheadSnapshot } from "./bulkhead.js";
import { type BulkheadOptions, parseBulkheadOptions } from "./bulkhead-options.js";

/** Options of a {@link KeyedBulkhead} itself; the options of each key's bulkhead are separate. */
export interface KeyedBulkheadOptions {
  /**
   * How many keys to keep. When a new key would go beyond it, idle keys (nothing in flight or
   * queued) are dropped, oldest first; busy keys are never dropped. Default 1000.
   */
  readonly maxKeys?: number;
}

/** Plain numbers for metrics. */
export interface KeyedBulkheadSnapshot {
  /** Keys that currently have a bulkhead. */
  readonly keys: number;
  /** Idle keys dropped to stay within `maxKeys`. */
  readonly evicted: number;
  /** Each key's bulkhead. */
  readonly byKey: Readonly<Record<string, BulkheadSnapshot>>;
}

/**
 * One isolated {@link Bulkhead} per key, typically per dependency, so that a slow dependency fills
 * only its own slots: `execute` runs the operation in the bulkhead of `ctx.key`. Each key's
 * bulkhead is created on first use from the same options and is named `<name>/<key>`.
 *
 * A key that is dropped while idle gets a fresh bulkhead on its next use, so hold on to
 * {@link KeyedBulkhead.get}'s result only for the duration of a call.
 */
export class KeyedBulkhead implements Policy {
  /** The options every key's bulkhead is created from. */
  readonly options: BulkheadOptions;
  /** How many keys are kept. */
  readonly maxKeys: number;
  readonly #name: string;
  readonly #byKey = new Map<string, Bulkhead>();
  #evicted = 0;

  constructor(options: BulkheadOptions, keyedOptions: KeyedBulkheadOptions = {}) {
    const reader = new ConfigReader();
    const resolved = parseBulkheadOptions(options, reader, "");
    const keyed = reader.object(keyedOptions, "");
    reader.knownKeys(keyed, ["maxKeys"], "");
    this.maxKeys = reader.number(keyed, "maxKeys", "", 1000, { integer: true, min: 1 });
    reader.throwIfInvalid();
    this.options = options;
    this.#name = resolved.name;
  }

  /** The bulkhead of `key`, created on first use. */
  get(key: string): Bulkhead {
    let bulkhead = this.#byKey.get(key);
    if (bulkhead === undefined) {
      if (this.#byKey.size >= this.maxKeys) this.#evictIdle();
      bulkhead = new Bulkhead({ ...this.options, name: `${this.#name}/${key}` });
      this.#byKey.set(key, bulkhead);
    }
    return bulkhead;
  }

  /** Runs `operation` in the bulkhead of `context.key`; rejects with a `TypeError` when the context has no key. */
  execute<T>(operation: Operation<T>, context: PolicyContext = emptyContext): Promise<T> {
    const key = context.key;
    if (typeof key !== "string") {
      return Promise.reject(
        new TypeError(
          `keyed bulkhead "${this.#name}": the call has no key; pass one in the context, as in execute(op, { key: "payments" })`,
        ),
      );
    }
    return this.get(key).execute(operation, context);
  }

  /** Current counters of every key. */
  snapshot(): KeyedBulkheadSnapshot {
    const byKey: Record<string, BulkheadSnapshot> = {};
    for (const [key, bulkhead] of this.#byKey) {
      Object.defineProperty(byKey, key, { value: bulkhead.snapshot(), enumerable: true });
    }
    return { keys: this.#byKey.size, evicted: this.#evicted, byKey };
  }

  #evictIdle(): void {
    // Insertion order is creation order, so the oldest idle keys go first.
    for (const [key, bulkhead] of this.#byKey) {
      if (this.#byKey.size < this.maxKeys) return;
      const { inFlight, queued } = bulkhead.snapshot();
      if (inFlight === 0 && queued === 0) {
        this.#byKey.delete(key);
        this.#evicted++;
      }
    }
  }
}

/**
 * Creates a {@link KeyedBulkhead}:
 * `keyedBulkhead({ maxConcurrent: 10 }, { maxKeys: 100 }).execute(op, { key: "payments" })`.
 */
export function keyedBulkhead(
  options: BulkheadOptions,
  keyedOptions: KeyedBulkheadOptions = {},
): KeyedBulkhead {
  return new KeyedBulkhead(options, keyedOptions);
}
