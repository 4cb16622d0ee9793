/**
 * One mutation of an embedded store, as written to its log (one JSON line each). `s` is the
 * record's sequence number, which rises by one with every record over the store's life; `i` is the
 * store index the mutation was given (the index at the time, for a grant or a key-less lease end).
 */
export type StoreRecord = PutRecord | DeleteRecord | GrantRecord | EndLeaseRecord;

/** A key written: value `v`, created at index `c`, attached to lease `l` when present. */
export interface PutRecord {
  readonly s: number;
  readonly op: "put";
  readonly i: number;
  readonly k: string;
  readonly v: string;
  readonly c: number;
  readonly l?: string;
}

/** A key deleted. */
export interface DeleteRecord {
  readonly s: number;
  readonly op: "del";
  readonly i: number;
  readonly k: string;
}

/** A lease granted with a TTL of `ttl` milliseconds. */
export interface GrantRecord {
  readonly s: number;
  readonly op: "grant";
  readonly i: number;
  readonly id: string;
  readonly ttl: number;
}

/** A lease revoked or expired; `keys[j]` was deleted at index `i + j`. */
export interface EndLeaseRecord {
  readonly s: number;
  readonly op: "revoke" | "expire";
  readonly i: number;
  readonly id: string;
  readonly keys: readonly string[];
}

/** Reads one log line back into a record; throws an `Error` saying what is wrong with it. */
export function parseStoreRecord(line: string): StoreRecord {
  const raw: unknown = JSON.parse(line);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new Error("not a JSON object");
  const r = raw as Record<string, unknown>;
  counter(r, "s");
  counter(r, "i");
  switch (r.op) {
    case "put":
      text(r, "k");
      text(r, "v");
      counter(r, "c");
      if (r.l !== undefined) text(r, "l");
      break;
    case "del":
      text(r, "k");
      break;
    case "grant":
      text(r, "id");
      if (typeof r.ttl !== "number" || !(r.ttl > 0)) throw new Error(`"ttl" must be a positive number`);
      break;
    case "revoke":
    case "expire":
      text(r, "id");
      if (!Array.isArray(r.keys) || !r.keys.every((k) => typeof k === "string"))
        throw new Error(`"keys" must be an array of strings`);
      break;
    default:
      throw new Error(`unknown op ${JSON.stringify(r.op)}`);
  }
  return raw as StoreRecord;
}

function counter(r: Record<string, unknown>, field: string): void {
  const value = r[field];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
    throw new Error(`"${field}" must be a whole number, got ${JSON.stringify(value)}`);
}

function text(r: Record<string, unknown>, field: string): void {
  if (typeof r[field] !== "string") throw new Error(`"${field}" must be a string`);
}
