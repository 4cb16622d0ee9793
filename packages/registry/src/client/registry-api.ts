import type { InstanceRecord, RegistrationRequest, RegistrationResponse } from "../registration.js";

/** What every call of a {@link RegistryApi} accepts. */
export interface CallOptions {
  /** Aborts the call; it then rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Turns a read into a blocking query (README.md, "Blocking queries"): the registry answers as soon as
 * the result's index is above `index`, or after `waitMs` with the unchanged result.
 */
export interface BlockingOptions extends CallOptions {
  /** The index of the answer the caller already has; absent (or 0) answers at once. */
  readonly index?: number | undefined;
  /** How long the registry may hold the query (default 30 s, at most 5 min; jittered by ±1/16). */
  readonly waitMs?: number | undefined;
}

/** The filters of `GET /v1/services/{service}`; all given ones must match. */
export interface InstanceFilters {
  /** An npm `semver` range (`^1.2`, `>=2 <3`). */
  readonly version?: string | undefined;
  /** Tags the instance must all carry. */
  readonly tags?: readonly string[] | undefined;
  readonly zone?: string | undefined;
  /** `passing` only, or `any`; default `passing` and `warning`. */
  readonly status?: "passing" | "warning" | "critical" | "any" | undefined;
}

/** The query of `GET /v1/services/{service}`: filters, and blocking-query options. */
export interface InstancesQuery extends InstanceFilters, BlockingOptions {}

/** A service's instances and the store index the answer reflects. */
export interface InstancesResult {
  readonly index: number;
  readonly instances: readonly InstanceRecord[];
}

/**
 * What changed in a service's instances (that pass the stream's filters), as a `delta` event of
 * its stream carries it (README.md, "Server-Sent Events"). It applies to the list at index `from`
 * — the index of the stream's previous event — and brings it to `index`.
 */
export interface InstancesDelta {
  readonly index: number;
  /** The index of the list this delta applies to; any other means events were missed: resync. */
  readonly from: number;
  /** Instances added or changed, whole; sorted by id. */
  readonly put: readonly InstanceRecord[];
  /** Ids of instances removed, or that no longer pass the filters. */
  readonly delete: readonly string[];
}

/**
 * The narrow part of the registry API that registration loops use (the discovery cache follows the SSE stream instead); the
 * HTTP {@link RegistryClient} implements it, and tests implement it in memory.
 */
export interface RegistryApi {
  /** Registers (or replaces) an instance and grants it a lease. */
  register(request: RegistrationRequest, options?: CallOptions): Promise<RegistrationResponse>;
  /** Renews a lease; rejects with `RegistryUnknownLeaseError` when the registry no longer knows it. */
  renew(leaseId: string, options?: CallOptions): Promise<{ readonly ttlMs: number }>;
  /** Removes an instance; resolves `false` when the registry did not know it. */
  deregister(service: string, id: string, options?: CallOptions): Promise<boolean>;
  /** A service's instances, optionally as a blocking query. */
  instances(service: string, query?: InstancesQuery): Promise<InstancesResult>;
}
