import {
  type Backoff,
  type Clock,
  ConfigReader,
  fullJitterBackoff,
  TimeoutError,
  type TimerHandle,
} from "@flotilla/resilience";
import type { RegistrationRequest } from "../registration.js";
import { isRegistryError, RegistryErrorCode } from "../registry-error.js";
import { type ClientLogger, silentLogger } from "./client-logger.js";
import { OutageLog } from "./outage-log.js";
import type { RegistryApi } from "./registry-api.js";
import { RegistryClientClosedError } from "./registry-client-closed-error.js";

/**
 * Where one registration stands:
 * - `registering`: not (or no longer) registered; a registration is under way or due;
 * - `registered`: the registry holds the instance and its lease is being renewed;
 * - `unreachable`: the last call failed (registry down, timeout, 5xx, 429); retrying with backoff;
 * - `rejected`: the registry refused the registration as invalid (HTTP 400); not retried;
 * - `stopped`: after `stop()`.
 */
export type RegistrationState = "registering" | "registered" | "unreachable" | "rejected" | "stopped";

/** A change of one registration's {@link RegistrationState}, for `onStateChange`. */
export interface RegistrationStateChange {
  readonly service: string;
  readonly id: string;
  readonly state: RegistrationState;
  readonly previous: RegistrationState;
  /** The lease while registered. */
  readonly lease: string | undefined;
  /** What caused an `unreachable` or `rejected` state. */
  readonly error: Error | undefined;
}

/** The registry calls a {@link LeaseKeeper} makes. */
export type RegistrationApi = Pick<RegistryApi, "register" | "renew" | "deregister">;

/** Options shared by {@link selfRegistration} and {@link thirdPartyRegistration}. */
export interface LeaseKeeperCommonOptions {
  /** The registry, usually a {@link RegistryClient}. */
  readonly client: RegistrationApi;
  /** Time source of the heartbeat and retry timers. Default the system clock. */
  readonly clock?: Clock | undefined;
  /** Where outages, lease losses and rejections are logged. Default: nowhere. */
  readonly logger?: ClientLogger | undefined;
  /** Called on every state change of a registration; a listener that throws is logged and ignored. */
  readonly onStateChange?: ((change: RegistrationStateChange) => void) | undefined;
  /**
   * The wait before the n-th retry while the registry is unreachable. Default full-jitter
   * exponential backoff from 200 ms up to 30 s. A heartbeat retry never waits longer than the
   * heartbeat interval.
   */
  readonly backoff?: Backoff | undefined;
  /** How long `stop()` may spend deregistering, in milliseconds. Default 5 s. */
  readonly deregisterTimeoutMs?: number | undefined;
}

/** The keys of {@link LeaseKeeperCommonOptions}, for the wrappers' unknown-key check. */
export const leaseKeeperCommonKeys = [
  "client",
  "clock",
  "logger",
  "onStateChange",
  "backoff",
  "deregisterTimeoutMs",
] as const;

/** Options of a {@link LeaseKeeper}. */
export interface LeaseKeeperOptions extends LeaseKeeperCommonOptions {
  /** What to register; ids must be distinct. */
  readonly registrations: readonly RegistrationRequest[];
}

interface Entry {
  readonly request: RegistrationRequest;
  state: RegistrationState;
  lease: { readonly id: string; ttlMs: number } | undefined;
  /** Clock reading at which the next register or renew is due. */
  dueAt: number;
  /** Failed calls in a row, for the backoff. */
  failures: number;
  previousDelay: number;
  /** A call for this entry is in flight. */
  busy: boolean;
  /** A registration was sent at least once: `stop()` must deregister. */
  attempted: boolean;
  everRegistered: boolean;
  /** Why the registry rejected the registration. */
  rejection: Error | undefined;
}

interface Waiter {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * The loop behind {@link SelfRegistration} and {@link ThirdPartyRegistration}: registers each
 * request, renews each lease at a third of its TTL, registers again at once when the registry has
 * forgotten a lease, and retries with backoff while the registry is unreachable — logging an
 * outage once, not once per attempt. One timer serves every registration: it fires at the earliest
 * due call. Nothing ever throws out of the loop.
 *
 * `stop()` is final: it aborts the calls in flight, deregisters every instance it registered (or
 * tried to) within `deregisterTimeoutMs`, and clears the timer. The timer is unref'd: the loop
 * alone does not keep the process alive.
 */
export class LeaseKeeper {
  readonly #client: RegistrationApi;
  readonly #clock: Clock;
  readonly #logger: ClientLogger;
  readonly #outage: OutageLog;
  readonly #onStateChange: ((change: RegistrationStateChange) => void) | undefined;
  readonly #backoff: Backoff;
  readonly #deregisterTimeoutMs: number;
  readonly #entries: Entry[];
  readonly #abort = new AbortController();
  readonly #inflight = new Set<Promise<void>>();
  #timer: TimerHandle | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #started = false;
  #stopping: Promise<void> | undefined;
  /** Set first thing in `stop()`, before any await. */
  #halted = false;
  #waiter: Waiter | undefined;

  /** Validates `options` (the requests only as far as the loop needs); throws a `ConfigError` naming the path. */
  constructor(options: LeaseKeeperOptions, what = "registration") {
    const reader = new ConfigReader();
    const obj = reader.object(options, "");
    this.#clock = reader.clock(obj, "clock", "");
    this.#deregisterTimeoutMs = reader.duration(obj, "deregisterTimeoutMs", "", 5_000, { above: 0 });
    const backoff = reader.fn<Backoff>(obj, "backoff", "");
    const onStateChange = reader.fn<(change: RegistrationStateChange) => void>(obj, "onStateChange", "");
    const client = reader.object(obj.client, "client");
    if (["register", "renew", "deregister"].some((method) => typeof client[method] !== "function")) {
      reader.issue("client", "expected a registry client with register(), renew() and deregister()");
    }
    reader.throwIfInvalid();
    this.#client = options.client;
    this.#logger = options.logger ?? silentLogger;
    this.#outage = new OutageLog(this.#logger, what);
    this.#onStateChange = onStateChange;
    this.#backoff = backoff ?? fullJitterBackoff({ initialDelay: 200, maxDelay: 30_000 });
    this.#entries = options.registrations.map((request) => ({
      request,
      state: "registering",
      lease: undefined,
      dueAt: 0,
      failures: 0,
      previousDelay: 0,
      busy: false,
      attempted: false,
      everRegistered: false,
      rejection: undefined,
    }));
  }

  /** Each registration's state, in the order given. */
  get states(): readonly RegistrationState[] {
    return this.#entries.map((e) => e.state);
  }

  /** Each registration's current lease id (`undefined` while not registered), in the order given. */
  get leases(): readonly (string | undefined)[] {
    return this.#entries.map((e) => e.lease?.id);
  }

  /** Starts registering; idempotent, and a no-op after `stop()`. The first registrations are sent at once. */
  start(): void {
    if (this.#started || this.#halted) return;
    this.#started = true;
    const now = this.#clock.now();
    for (const entry of this.#entries) entry.dueAt = now;
    this.#tick();
  }

  /**
   * Resolves once every registration has been accepted (since `start()`); rejects with the
   * registry's `RegistryInvalidRequestError` when one is rejected, or with a
   * `RegistryClientClosedError` when `stop()` comes first.
   */
  registered(): Promise<void> {
    if (this.#waiter === undefined) {
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.#waiter = { promise, resolve, reject };
      this.#settleWaiter();
    }
    return this.#waiter.promise;
  }

  /** Stops the loop and deregisters (see the class description). Idempotent; never rejects. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#halted = true;
    this.#clearTimer();
    this.#abort.abort(new RegistryClientClosedError("registration"));
    await Promise.allSettled(this.#inflight);
    const timeout = new AbortController();
    const ms = this.#deregisterTimeoutMs;
    const timer = this.#clock.setTimeout(() => timeout.abort(new TimeoutError(ms)), ms, true);
    try {
      await Promise.all(
        this.#entries.filter((e) => e.attempted).map((entry) => this.#deregister(entry, timeout.signal)),
      );
    } finally {
      this.#clock.clearTimeout(timer);
    }
    for (const entry of this.#entries) {
      entry.lease = undefined;
      this.#setState(entry, "stopped", undefined);
    }
    this.#settleWaiter();
  }

  async #deregister(entry: Entry, signal: AbortSignal): Promise<void> {
    const { service, id } = entry.request;
    try {
      const found = await this.#client.deregister(service, id, { signal });
      this.#logger.info({ service, id, found }, "deregistered");
    } catch (error) {
      this.#logger.warn({ service, id, err: error }, "deregistration failed; the lease will expire instead");
    }
  }

  #tick(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    if (this.#halted) return;
    const now = this.#clock.now();
    for (const entry of this.#entries) {
      if (!entry.busy && entry.dueAt <= now) this.#launch(entry);
    }
    this.#schedule();
  }

  #launch(entry: Entry): void {
    entry.busy = true;
    const attempt = entry.lease === undefined ? this.#register(entry) : this.#renew(entry);
    const call = attempt
      .catch((error: unknown) => this.#logger.error({ err: error }, "registration loop failed"))
      .finally(() => {
        entry.busy = false;
        this.#inflight.delete(call);
        this.#schedule();
      });
    this.#inflight.add(call);
  }

  /** Keeps the one timer set for the earliest due call of an idle entry. */
  #schedule(): void {
    if (this.#halted) return;
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.#entries) {
      if (!entry.busy && entry.dueAt < next) next = entry.dueAt;
    }
    if (next === this.#timerAt) return;
    this.#clearTimer();
    if (next === Number.POSITIVE_INFINITY) return;
    this.#timerAt = next;
    this.#timer = this.#clock.setTimeout(() => this.#tick(), Math.max(0, next - this.#clock.now()), true);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  async #register(entry: Entry): Promise<void> {
    const { service, id } = entry.request;
    entry.attempted = true;
    try {
      const response = await this.#client.register(entry.request, { signal: this.#abort.signal });
      if (this.#halted) return;
      entry.lease = { id: response.lease.id, ttlMs: response.lease.ttlMs };
      entry.everRegistered = true;
      this.#succeeded(entry);
      this.#logger.info({ service, id, lease: entry.lease.id, ttlMs: entry.lease.ttlMs }, "registered");
      this.#setState(entry, "registered", undefined);
      this.#settleWaiter();
    } catch (error) {
      if (this.#halted) return;
      // By code, not instanceof: the error subclasses inherit RegistryError's code-agnostic hasInstance.
      if (isRegistryError(error, RegistryErrorCode.InvalidRequest)) {
        entry.dueAt = Number.POSITIVE_INFINITY;
        entry.rejection = error;
        this.#logger.error({ service, id, err: error }, "registration rejected");
        this.#setState(entry, "rejected", error);
        this.#settleWaiter();
        return;
      }
      this.#failed(entry, error, Number.POSITIVE_INFINITY);
    }
  }

  async #renew(entry: Entry): Promise<void> {
    const lease = entry.lease!;
    const { service, id } = entry.request;
    try {
      const { ttlMs } = await this.#client.renew(lease.id, { signal: this.#abort.signal });
      if (this.#halted) return;
      lease.ttlMs = ttlMs;
      this.#succeeded(entry);
      this.#setState(entry, "registered", undefined);
    } catch (error) {
      if (this.#halted) return;
      if (isRegistryError(error, RegistryErrorCode.UnknownLease)) {
        this.#outage.success({ service, id });
        entry.lease = undefined;
        entry.failures = 0;
        entry.previousDelay = 0;
        entry.dueAt = this.#clock.now();
        this.#logger.info(
          { service, id, lease: lease.id },
          "lease unknown to the registry; registering again",
        );
        this.#setState(entry, "registering", undefined);
        return;
      }
      this.#failed(entry, error, heartbeatMs(lease.ttlMs));
    }
  }

  #succeeded(entry: Entry): void {
    const { service, id } = entry.request;
    this.#outage.success({ service, id });
    entry.failures = 0;
    entry.previousDelay = 0;
    entry.dueAt = this.#clock.now() + heartbeatMs(entry.lease!.ttlMs);
  }

  #failed(entry: Entry, error: unknown, maxDelayMs: number): void {
    const { service, id } = entry.request;
    entry.failures++;
    const raw = this.#backoff(entry.failures, error, entry.previousDelay);
    const delay = Math.min(Number.isFinite(raw) && raw > 0 ? raw : 0, maxDelayMs);
    entry.previousDelay = delay;
    entry.dueAt = this.#clock.now() + delay;
    this.#outage.failure(error, { service, id, retryInMs: Math.round(delay) });
    this.#setState(entry, "unreachable", error instanceof Error ? error : new Error(String(error)));
  }

  #setState(entry: Entry, state: RegistrationState, error: Error | undefined): void {
    const previous = entry.state;
    if (previous === state) return;
    entry.state = state;
    if (this.#onStateChange === undefined) return;
    const { service, id } = entry.request;
    try {
      this.#onStateChange({ service, id, state, previous, lease: entry.lease?.id, error });
    } catch (listenerError) {
      this.#logger.warn({ service, id, err: listenerError }, "onStateChange listener threw");
    }
  }

  /** Settles the `registered()` promise once every entry registered, one was rejected, or on stop. */
  #settleWaiter(): void {
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    const rejected = this.#entries.find((e) => e.rejection !== undefined);
    if (rejected !== undefined) waiter.reject(rejected.rejection!);
    else if (this.#entries.every((e) => e.everRegistered)) waiter.resolve();
    else if (this.#halted) waiter.reject(new RegistryClientClosedError("registration"));
  }
}

/** A lease is renewed at a third of its TTL, so that two heartbeats may be lost before it lapses. */
export function heartbeatMs(ttlMs: number): number {
  return Math.max(1, Math.floor(ttlMs / 3));
}
