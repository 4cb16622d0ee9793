import type { IKeyValue } from "etcd3";
import type { StoreEntry } from "./store.js";

/**
 * Maps store keys to etcd keys under one prefix, so several registries can share an etcd
 * cluster, and etcd key-values back to {@link StoreEntry}s with the prefix stripped.
 */
export class EtcdKeySpace {
  readonly #prefix: Buffer;

  /** `prefix` is prepended to every key; it must not be empty. */
  constructor(prefix: string) {
    this.#prefix = Buffer.from(prefix, "utf8");
  }

  /** The etcd key of store key `key`. */
  key(key: string): Buffer {
    return Buffer.concat([this.#prefix, Buffer.from(key, "utf8")]);
  }

  /** The etcd range (`key` up to, not including, `range_end`) of every store key starting with `prefix`. */
  range(prefix: string): { readonly key: Buffer; readonly range_end: Buffer } {
    const key = this.key(prefix);
    return { key, range_end: rangeEnd(key) };
  }

  /** The store key of etcd key `key`. */
  strip(key: Buffer): string {
    return key.subarray(this.#prefix.length).toString("utf8");
  }

  /** The store entry of an etcd key-value; revisions become indexes, lease `0` means none. */
  entry(kv: IKeyValue): StoreEntry {
    const entry = {
      key: this.strip(kv.key),
      value: kv.value.toString("utf8"),
      createIndex: Number(kv.create_revision),
      modifyIndex: Number(kv.mod_revision),
    };
    return kv.lease === "0" || kv.lease === "" ? entry : { ...entry, lease: kv.lease };
  }
}

/**
 * The smallest key greater than every key starting with `key`: its last byte below 0xff
 * incremented, the rest dropped (etcd's `clientv3.GetPrefixRangeEnd`).
 */
function rangeEnd(key: Buffer): Buffer {
  for (let i = key.length - 1; i >= 0; i--) {
    const byte = key[i] as number;
    if (byte < 0xff) {
      const end = Buffer.from(key.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  // All 0xff (or empty): "\0" as range_end means "to the end of the keyspace".
  return Buffer.from([0]);
}
