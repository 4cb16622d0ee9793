import { ConfigReader } from "@flotilla/resilience";
import type { RegistrationRequest } from "../registration.js";
import { type ClientLogger, silentLogger } from "./client-logger.js";
import {
  LeaseKeeper,
  type LeaseKeeperCommonOptions,
  leaseKeeperCommonKeys,
  type RegistrationState,
} from "./lease-keeper.js";
import { readRegistrationConfig } from "./read-registration-config.js";

/** Options of {@link selfRegistration}. */
export interface SelfRegistrationOptions extends LeaseKeeperCommonOptions {
  /** This process's instance, as `POST /v1/instances` takes it. */
  readonly registration: RegistrationRequest;
  /**
   * On `SIGTERM` or `SIGINT`, deregister (`stop()`) before the process goes. Default true. The
   * listeners are added by `start()` and removed by `stop()`, and after the first signal, so that
   * a second one gets Node's default behaviour (exit at once).
   */
  readonly handleSignals?: boolean | undefined;
  /**
   * After a signal's `stop()`, call `process.exit(0)`. Default true, because a `SIGTERM` or
   * `SIGINT` listener replaces Node's default of exiting. Set it to false when something else —
   * the service runtime — owns shutdown and exits the process itself.
   */
  readonly exitOnSignal?: boolean | undefined;
}

const signals = ["SIGTERM", "SIGINT"] as const;

/**
 * Registers the current process with the registry and keeps its lease alive: `start()` registers
 * (retrying with jittered exponential backoff while the registry is unreachable), heartbeats at a
 * third of the TTL, registers again at once when the registry has forgotten the lease, and logs an
 * outage once. `stop()` deregisters, bounded by `deregisterTimeoutMs`. The loop is the
 * {@link LeaseKeeper} that {@link ThirdPartyRegistration} uses too.
 */
export class SelfRegistration {
  readonly #keeper: LeaseKeeper;
  readonly #logger: ClientLogger;
  readonly #handleSignals: boolean;
  readonly #exitOnSignal: boolean;
  #listening = false;

  /** Validates `options`; a bad one throws a `ConfigError` naming its path (`registration.port`). */
  constructor(options: SelfRegistrationOptions) {
    const reader = new ConfigReader();
    const obj = reader.object(options, "");
    reader.knownKeys(obj, [...leaseKeeperCommonKeys, "registration", "handleSignals", "exitOnSignal"], "");
    const registration = readRegistrationConfig(obj.registration, reader, "registration");
    this.#handleSignals = reader.boolean(obj, "handleSignals", "", true);
    this.#exitOnSignal = reader.boolean(obj, "exitOnSignal", "", true);
    reader.throwIfInvalid();
    this.#logger = options.logger ?? silentLogger;
    const { registration: _registration, handleSignals: _h, exitOnSignal: _e, ...common } = options;
    this.#keeper = new LeaseKeeper({ ...common, registrations: [registration] }, "self-registration");
  }

  /** Where the registration stands. */
  get state(): RegistrationState {
    return this.#keeper.states[0]!;
  }

  /** The current lease id, while registered. */
  get lease(): string | undefined {
    return this.#keeper.leases[0];
  }

  /** Starts the loop (and the signal listeners); returns at once. Idempotent; a no-op after `stop()`. */
  start(): void {
    if (this.state === "stopped") return;
    this.#keeper.start();
    if (this.#handleSignals && !this.#listening) {
      this.#listening = true;
      for (const signal of signals) process.on(signal, this.#onSignal);
    }
  }

  /**
   * Resolves once the registry has accepted the registration; rejects with its
   * `RegistryInvalidRequestError` if it refuses it, or when `stop()` comes first.
   */
  registered(): Promise<void> {
    return this.#keeper.registered();
  }

  /** Deregisters and stops the loop and the signal listeners. Idempotent; never rejects. */
  stop(): Promise<void> {
    this.#removeListeners();
    return this.#keeper.stop();
  }

  readonly #onSignal = (signal: NodeJS.Signals): void => {
    this.#removeListeners();
    this.#logger.info({ signal }, "signal received: deregistering");
    void this.stop().then(() => {
      if (this.#exitOnSignal) process.exit(0);
    });
  };

  #removeListeners(): void {
    if (!this.#listening) return;
    this.#listening = false;
    for (const signal of signals) process.off(signal, this.#onSignal);
  }
}

/**
 * Creates a {@link SelfRegistration}:
 *
 * ```ts
 * const registration = selfRegistration({
 *   client: registryClient({ url: "http://127.0.0.1:8500" }),
 *   registration: { service: "orders", id: `orders-${process.pid}`, address: "10.0.0.7", port: 8080, version: "1.4.2" },
 *   logger,
 * });
 * registration.start();
 * ```
 */
export function selfRegistration(options: SelfRegistrationOptions): SelfRegistration {
  return new SelfRegistration(options);
}
