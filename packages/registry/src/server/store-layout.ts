import type { ResolvedCheck } from "../health/resolve-checks.js";
import type { InstanceRecord } from "../registration.js";
import type { StoreEntry } from "../store/store.js";

/**
 * How the registry server lays its data out in a {@link Store}:
 *
 * - `instances/<service>/<id>`: a {@link StoredInstance} as JSON, NOT attached to a lease, so a
 *   lapsed lease leaves the record behind to be marked critical (and, with self-preservation, kept);
 * - `leases/<leaseId>`: a {@link LeaseMarker} as JSON attached to the lease, whose deletion by the
 *   store tells every registry server watching that the lease lapsed;
 * - `kv/<key>`: user KV values as given.
 */
export const storeLayout = Object.freeze({
  instances: "instances/",
  leases: "leases/",
  kv: "kv/",
});

/** An instance as stored: the wire record without `modifyIndex` (the entry's), plus its resolved checks. */
export interface StoredInstance extends Omit<InstanceRecord, "modifyIndex"> {
  /** The checks with defaults applied, so any registry server (or this one after a restart) can run them. */
  readonly checkDefinitions: readonly ResolvedCheck[];
}

/** The value under `leases/<id>`: whose lease it is. */
export interface LeaseMarker {
  readonly service: string;
  readonly id: string;
  readonly ttlMs: number;
}

/** An instance as the server's view holds it: the wire record and its check definitions. */
export interface ViewInstance {
  readonly record: InstanceRecord;
  readonly definitions: readonly ResolvedCheck[];
}

/** `instances/<service>/<id>`. */
export function instanceKey(service: string, id: string): string {
  return `${storeLayout.instances}${service}/${id}`;
}

/** `leases/<leaseId>`. */
export function leaseKey(lease: string): string {
  return `${storeLayout.leases}${lease}`;
}

/** Serialises an instance for `instances/<service>/<id>`. */
export function encodeInstance(
  record: Omit<InstanceRecord, "modifyIndex">,
  checks: readonly ResolvedCheck[],
): string {
  const stored: StoredInstance = { ...withoutModifyIndex(record), checkDefinitions: checks };
  return JSON.stringify(stored);
}

/**
 * Reads an `instances/` entry back; `undefined` for a value that is not a stored instance (written
 * by something else), which the view skips.
 */
export function decodeInstance(entry: StoreEntry): ViewInstance | undefined {
  let stored: Partial<StoredInstance>;
  try {
    stored = JSON.parse(entry.value) as Partial<StoredInstance>;
  } catch {
    return undefined;
  }
  if (
    typeof stored !== "object" ||
    stored === null ||
    typeof stored.id !== "string" ||
    typeof stored.service !== "string" ||
    typeof stored.lease !== "string" ||
    !Array.isArray(stored.checks)
  ) {
    return undefined;
  }
  const { checkDefinitions, ...rest } = stored as StoredInstance;
  const record: InstanceRecord = { ...rest, modifyIndex: entry.modifyIndex };
  return { record, definitions: Array.isArray(checkDefinitions) ? checkDefinitions : [] };
}

/** Serialises a {@link LeaseMarker}. */
export function encodeLease(marker: LeaseMarker): string {
  return JSON.stringify(marker);
}

/** Reads a `leases/` entry back; `undefined` when it is not a lease marker. */
export function decodeLease(value: string): LeaseMarker | undefined {
  try {
    const marker = JSON.parse(value) as Partial<LeaseMarker>;
    if (typeof marker?.service !== "string" || typeof marker.id !== "string") return undefined;
    return {
      service: marker.service,
      id: marker.id,
      ttlMs: typeof marker.ttlMs === "number" ? marker.ttlMs : 0,
    };
  } catch {
    return undefined;
  }
}

function withoutModifyIndex(
  record: Omit<InstanceRecord, "modifyIndex"> & { modifyIndex?: number },
): Omit<InstanceRecord, "modifyIndex"> {
  if (record.modifyIndex === undefined) return record;
  const { modifyIndex: _, ...rest } = record;
  return rest;
}
