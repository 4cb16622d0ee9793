import type { ServiceInstance } from "./instance.js";

/**
 * A health check the registry runs (http, tcp) or expects (ttl) for an instance, as given at
 * registration. Durations are milliseconds on the wire; the HTTP API also accepts `"5s"` strings.
 */
export type CheckDefinition = HttpCheckDefinition | TcpCheckDefinition | TtlCheckDefinition;

interface CheckTiming {
  /** Name shown in the instance's status; default `<type>-<kind>` such as `http-readiness`. */
  readonly name?: string;
  /** Time between runs (default 10 s); runs are jittered by up to 10 %. */
  readonly intervalMs?: number;
  /** Time one run may take before it counts as critical (default 2 s, at most the interval). */
  readonly timeoutMs?: number;
  /**
   * For a `liveness` check: an instance critical on it for this long is deregistered (default:
   * never). A failing `readiness` check only takes the instance out of rotation and ignores this.
   */
  readonly deregisterCriticalAfterMs?: number;
}

/** `GET url`: 2xx passing, 429 warning, anything else or no answer critical. */
export interface HttpCheckDefinition extends CheckTiming {
  readonly type: "http";
  /** `liveness` failing makes the instance suspect; `readiness` failing only takes it out of rotation. Default `readiness`. */
  readonly kind?: "liveness" | "readiness";
  /** Absolute `http:` or `https:` URL. */
  readonly url: string;
}

/** A TCP connect to `address:port` (default the instance's own). */
export interface TcpCheckDefinition extends CheckTiming {
  readonly type: "tcp";
  readonly kind?: "liveness" | "readiness";
  readonly address?: string;
  readonly port?: number;
}

/** Passing while the instance's lease is renewed; the lease TTL is the check's TTL. */
export interface TtlCheckDefinition {
  readonly type: "ttl";
  readonly name?: string;
  readonly deregisterCriticalAfterMs?: number;
}

/** Consul's check states. Only `passing` and `warning` instances are in rotation. */
export type HealthStatus = "passing" | "warning" | "critical";

/** The latest result of one check. */
export interface CheckStatus {
  readonly name: string;
  readonly type: "http" | "tcp" | "ttl";
  readonly kind: "liveness" | "readiness";
  readonly status: HealthStatus;
  /** Why, for anything but passing: `HTTP 503`, `ECONNREFUSED`, `lease expired`. */
  readonly output?: string;
  /** Epoch ms of the last change of `status`. */
  readonly since: number;
}

/** The body of `POST /v1/instances`. */
export interface RegistrationRequest {
  readonly service: string;
  /** Unique per registry; registering an existing id replaces that instance (and its lease). */
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly version?: string;
  readonly tags?: readonly string[];
  readonly metadata?: Readonly<Record<string, string>>;
  readonly zone?: string;
  readonly weight?: number;
  readonly checks?: readonly CheckDefinition[];
  /** Lease TTL (default 10 s, 1 s to 1 h); heartbeat at a third of it. */
  readonly ttlMs?: number;
}

/** The answer to a registration: the lease to renew with `PUT /v1/leases/{id}/renew`. */
export interface RegistrationResponse {
  readonly instance: InstanceRecord;
  readonly lease: { readonly id: string; readonly ttlMs: number };
  readonly index: number;
}

/** An instance as the registry stores and returns it. */
export interface InstanceRecord extends ServiceInstance {
  /** Aggregate: the worst of the checks; `critical` when the lease lapsed. */
  readonly status: HealthStatus;
  readonly checks: readonly CheckStatus[];
  readonly lease: string;
  readonly ttlMs: number;
  /** Epoch ms. */
  readonly registeredAt: number;
  /** The store index of the record's last change. */
  readonly modifyIndex: number;
}
