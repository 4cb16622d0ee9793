import { ConfigReader } from "@flotilla/resilience";
import type { RegistrationRequest } from "../registration.js";
import {
  LeaseKeeper,
  type LeaseKeeperCommonOptions,
  leaseKeeperCommonKeys,
  type RegistrationState,
} from "./lease-keeper.js";
import { readRegistrationConfig } from "./read-registration-config.js";

/** Options of {@link thirdPartyRegistration}. */
export interface ThirdPartyRegistrationOptions extends LeaseKeeperCommonOptions {
  /**
   * The external instances to register (from configuration). Each must carry an `http` or `tcp`
   * check: its lease only proves that this registrar is alive, so the registry must probe the
   * instance itself. Ids must be distinct.
   */
  readonly registrations: readonly RegistrationRequest[];
}

/**
 * Registers processes that cannot register themselves — a database, a legacy service, anything
 * in configuration — and keeps their leases alive from this process, like Consul's external
 * services registered by a catalog sync. One {@link LeaseKeeper} loop serves them all: one timer,
 * each lease renewed at a third of its TTL, re-registered at once when the registry forgot it,
 * retried with backoff while the registry is unreachable. `stop()` deregisters every one.
 */
export class ThirdPartyRegistration {
  readonly #keeper: LeaseKeeper;
  readonly #registrations: readonly RegistrationRequest[];

  /** Validates `options`; a bad one throws a `ConfigError` naming its path (`registrations[1].checks`). */
  constructor(options: ThirdPartyRegistrationOptions) {
    const reader = new ConfigReader();
    const obj = reader.object(options, "");
    reader.knownKeys(obj, [...leaseKeeperCommonKeys, "registrations"], "");
    const raw = obj.registrations;
    const registrations: RegistrationRequest[] = [];
    if (!Array.isArray(raw) || raw.length === 0) {
      reader.issue("registrations", "expected a non-empty array of registrations");
    } else {
      const ids = new Set<string>();
      raw.forEach((item: unknown, i) => {
        const path = `registrations[${i}]`;
        const request = readRegistrationConfig(item, reader, path);
        if (typeof request.id === "string") {
          if (ids.has(request.id)) reader.issue(`${path}.id`, `duplicate id "${request.id}"`);
          ids.add(request.id);
        }
        const checks = Array.isArray(request.checks) ? request.checks : [];
        if (!checks.some((c) => c?.type === "http" || c?.type === "tcp")) {
          reader.issue(
            `${path}.checks`,
            "a third-party registration needs an http or tcp check, so that the registry probes the instance itself",
          );
        }
        registrations.push(request);
      });
    }
    reader.throwIfInvalid();
    this.#registrations = registrations;
    const { registrations: _registrations, ...common } = options;
    this.#keeper = new LeaseKeeper({ ...common, registrations }, "third-party registration");
  }

  /** Each registration's state, by instance id. */
  get states(): ReadonlyMap<string, RegistrationState> {
    const states = this.#keeper.states;
    return new Map(this.#registrations.map((r, i) => [r.id, states[i]!]));
  }

  /** Starts the loop; returns at once. Idempotent; a no-op after `stop()`. */
  start(): void {
    this.#keeper.start();
  }

  /**
   * Resolves once the registry has accepted every registration; rejects with the registry's
   * `RegistryInvalidRequestError` if it refuses one, or when `stop()` comes first.
   */
  registered(): Promise<void> {
    return this.#keeper.registered();
  }

  /** Deregisters every instance and stops the loop. Idempotent; never rejects. */
  stop(): Promise<void> {
    return this.#keeper.stop();
  }
}

/**
 * Creates a {@link ThirdPartyRegistration}:
 *
 * ```ts
 * const external = thirdPartyRegistration({
 *   client,
 *   registrations: [{ service: "postgres", id: "pg-1", address: "10.0.0.9", port: 5432, checks: [{ type: "tcp" }] }],
 * });
 * external.start();
 * ```
 */
export function thirdPartyRegistration(options: ThirdPartyRegistrationOptions): ThirdPartyRegistration {
  return new ThirdPartyRegistration(options);
}
