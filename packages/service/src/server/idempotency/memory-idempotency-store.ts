import { randomUUID } from "node:crypto";
import { type Clock, ConfigReader, systemClock } from "@flotilla/resilience";
import type {
  IdempotencyBegin,
  IdempotencyStore,
  IdempotencyTimes,
  StoredResponse,
} from "./idempotency-store.js";

/** Options of {@link memoryIdempotencyStore}. */
export interface MemoryIdempotencyStoreOptions {
  /** At most this many keys are kept; past it the oldest go first. Default 10 000. */
  readonly maxEntries?: number;
  /** Time source of the windows and locks. Default the system clock. */
  readonly clock?: Clock;
}

interface Entry {
  readonly fingerprint: string;
  readonly token: string;
  response: StoredResponse | undefined;
  readonly lockedUntil: number;
  readonly expiresAt: number;
}

/**
 * An {@link IdempotencyStore} in this process's memory: bounded (`maxEntries`, oldest evicted
 * first) and expiring (each key lasts its window). Right for a single instance and for tests;
 * several instances need a shared store such as {@link PostgresIdempotencyStore}.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly maxEntries: number;
  readonly #clock: Clock;
  /** Insertion order is claim order, so the first entries are the oldest. */
  readonly #entries = new Map<string, Entry>();

  /** Validates `options`; throws a `ConfigError` naming each bad one. */
  constructor(options: MemoryIdempotencyStoreOptions = {}) {
    const reader = new ConfigReader();
    const o = reader.object(options, "");
    reader.knownKeys(o, ["maxEntries", "clock"], "");
    this.maxEntries = reader.number(o, "maxEntries", "", 10_000, { min: 1, integer: true });
    reader.throwIfInvalid();
    this.#clock = options.clock ?? systemClock;
  }

  /** Keys held now, expired ones included until they are swept. */
  get size(): number {
    return this.#entries.size;
  }

  begin(route: string, key: string, fingerprint: string, times: IdempotencyTimes): Promise<IdempotencyBegin> {
    const now = this.#clock.now();
    const id = `${route}\u0000${key}`;
    const entry = this.#entries.get(id);
    if (
      entry !== undefined &&
      entry.expiresAt > now &&
      (entry.response !== undefined || entry.lockedUntil > now)
    ) {
      if (entry.fingerprint !== fingerprint) return Promise.resolve({ outcome: "mismatch" });
      if (entry.response === undefined) return Promise.resolve({ outcome: "in-progress" });
      return Promise.resolve({ outcome: "completed", response: entry.response });
    }
    this.#entries.delete(id);
    this.#sweep(now);
    const token = randomUUID();
    this.#entries.set(id, {
      fingerprint,
      token,
      response: undefined,
      lockedUntil: now + times.lockMs,
      expiresAt: now + times.windowMs,
    });
    return Promise.resolve({ outcome: "started", token });
  }

  complete(route: string, key: string, token: string, response: StoredResponse): Promise<void> {
    const entry = this.#entries.get(`${route}\u0000${key}`);
    if (entry?.token === token) entry.response = response;
    return Promise.resolve();
  }

  release(route: string, key: string, token: string): Promise<void> {
    const id = `${route}\u0000${key}`;
    const entry = this.#entries.get(id);
    if (entry?.token === token && entry.response === undefined) this.#entries.delete(id);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#entries.clear();
    return Promise.resolve();
  }

  /** Drops expired entries from the old end, then the oldest while over the bound. */
  #sweep(now: number): void {
    for (const [id, entry] of this.#entries) {
      if (entry.expiresAt > now && this.#entries.size < this.maxEntries) break;
      this.#entries.delete(id);
    }
  }
}

/** Creates a {@link MemoryIdempotencyStore}. */
export function memoryIdempotencyStore(options: MemoryIdempotencyStoreOptions = {}): MemoryIdempotencyStore {
  return new MemoryIdempotencyStore(options);
}
