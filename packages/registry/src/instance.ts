import { ConfigReader } from "@flotilla/resilience";

/**
 * One running copy of a service as the registry knows it, and what every balancer picks from.
 * Instances are compared by {@link ServiceInstance.id}: a new object with the same `id` (from a
 * fresh discovery answer) is the same instance, and balancers keep its state (active requests,
 * latency estimate) across membership updates.
 */
export interface ServiceInstance {
  /** Unique within the registry and stable for the life of the instance (e.g. `orders-7f9c`). */
  readonly id: string;
  /** The service's name (e.g. `orders`). */
  readonly service: string;
  /** Host name or IP address to connect to. */
  readonly address: string;
  /** TCP port, 1 to 65535. */
  readonly port: number;
  /** The instance's version as semver (`1.4.2`, `2.0.0-rc.1`). */
  readonly version: string;
  /** Availability zone, for zone-aware routing; absent when unknown. */
  readonly zone?: string;
  /**
   * Relative share of traffic, a finite number of at least 0 (default 1). An instance of weight
   * 0 is never chosen; balancers also skip any weight that is not a finite positive number.
   */
  readonly weight: number;
  /** Free-form labels (`canary`, `gpu`). */
  readonly tags: readonly string[];
  /** Free-form string attributes. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** What {@link serviceInstance} needs: a {@link ServiceInstance} whose defaulted fields may be left out. */
export interface ServiceInstanceInit {
  readonly id: string;
  readonly service: string;
  readonly address: string;
  readonly port: number;
  /** Default `0.0.0`. */
  readonly version?: string;
  readonly zone?: string;
  /** Default 1. */
  readonly weight?: number;
  /** Default none. */
  readonly tags?: readonly string[];
  /** Default none. */
  readonly metadata?: Readonly<Record<string, string>>;
}

// https://semver.org/#is-there-a-suggested-regular-expression-regex-to-check-a-semver-string
const semver =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/**
 * Builds a frozen {@link ServiceInstance}, applying the defaults (version `0.0.0`, weight 1, no
 * tags, no metadata) and validating every field; a bad one fails with a `ConfigError` naming its
 * path and reason.
 *
 * ```ts
 * const i = serviceInstance({ id: "orders-1", service: "orders", address: "10.0.0.7", port: 8080, zone: "eu-1a" });
 * ```
 */
export function serviceInstance(init: ServiceInstanceInit): ServiceInstance {
  const reader = new ConfigReader();
  const obj = reader.object(init, "");
  reader.knownKeys(
    obj,
    ["id", "service", "address", "port", "version", "zone", "weight", "tags", "metadata"],
    "",
  );
  for (const key of ["id", "service", "address"]) {
    if (obj[key] === undefined) reader.issue(key, "required");
  }
  const id = reader.string(obj, "id", "", "");
  const service = reader.string(obj, "service", "", "");
  const address = reader.string(obj, "address", "", "");
  if (obj.port === undefined) reader.issue("port", "required");
  const port = reader.number(obj, "port", "", 1, { integer: true, min: 1, max: 65535 });
  const version = reader.string(obj, "version", "", "0.0.0");
  if (!semver.test(version)) reader.issue("version", `expected a semver version, got "${version}"`);
  const zone = obj.zone === undefined ? undefined : reader.string(obj, "zone", "", "");
  const weight = reader.number(obj, "weight", "", 1, { min: 0 });
  if (!Number.isFinite(weight)) reader.issue("weight", `must be finite, got ${weight}`);
  const tags = obj.tags ?? [];
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string")) {
    reader.issue("tags", "expected an array of strings");
  }
  const metadata = reader.object(obj.metadata, "metadata");
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== "string") reader.issue(`metadata.${key}`, "expected a string");
  }
  reader.throwIfInvalid();
  return Object.freeze({
    id,
    service,
    address,
    port,
    version,
    ...(zone === undefined ? {} : { zone }),
    weight,
    tags: Object.freeze([...(tags as string[])]),
    metadata: Object.freeze({ ...(metadata as Record<string, string>) }),
  });
}
