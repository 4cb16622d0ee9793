import { ConfigReader } from "@flotilla/resilience";
import { CompareResult, CompareTarget, Etcd3, type IKeyValue, type IResponseHeader } from "etcd3";
import {
  RegistryError,
  RegistryErrorCode,
  RegistryInvalidRequestError,
  RegistryUnknownLeaseError,
} from "../registry-error.js";
import { EtcdKeySpace } from "./etcd-key-space.js";
import { etcdPassThroughPolicy } from "./etcd-pass-through-policy.js";
import { etcdStoreError, isEtcdLeaseNotFound, isEtcdRetryable } from "./etcd-store-error.js";
import { type EtcdStoreOptions, parseEtcdStoreOptions } from "./etcd-store-options.js";
import { EtcdWatchHub } from "./etcd-watch-hub.js";
import type {
  DeleteOptions,
  LeaseGrant,
  PutOptions,
  Store,
  StoreEntry,
  StoreSnapshot,
  StoreWatch,
  StoreWatchHandlers,
  WriteResult,
} from "./store.js";

/**
 * Creates a {@link Store} on an etcd v3 cluster, for running registry servers as an HA set.
 *
 * ```ts
 * const store = etcdStore({ endpoints: ["http://10.0.0.1:2379", "http://10.0.0.2:2379"] });
 * ```
 */
export function etcdStore(options: EtcdStoreOptions): EtcdStore {
  return new EtcdStore(options);
}

/**
 * A {@link Store} on etcd v3. The store index is etcd's revision (`createIndex` is a key's
 * `create_revision`, `modifyIndex` its `mod_revision`); compare-and-set is an etcd transaction;
 * leases are etcd leases, which etcd expires itself.
 *
 * Lease TTLs are whole seconds in etcd: `grantLease(ttlMs)` asks for `ceil(ttlMs / 1000)`
 * seconds (at least 1), and etcd raises that to its minimum TTL (1.5 × the election timeout,
 * 2 s with etcd's defaults); the grant reports the TTL etcd actually gave. Leases are never kept
 * alive in the background: only {@link EtcdStore.keepAlive}, one request per call, renews them.
 *
 * There is no expiry guard: etcd expires leases itself. During self-preservation the registry
 * server keeps the instance records whose leases lapsed (it does not keep the leases alive), so
 * on etcd a returning instance's renew answers "unknown lease" and it registers again.
 *
 * Every etcd failure surfaces as `FLT_REGISTRY_STORE_UNAVAILABLE` with the etcd error as
 * `cause`; calls after {@link EtcdStore.close} fail with `FLT_REGISTRY_STORE_CLOSED`. Reads are
 * retried on unavailability (on another endpoint when there is one); writes never are, as etcd
 * may have applied them.
 */
export class EtcdStore implements Store {
  /** `etcd`. */
  readonly kind = "etcd";
  readonly #client: Etcd3;
  readonly #keys: EtcdKeySpace;
  readonly #watches: EtcdWatchHub;
  readonly #requestTimeoutMs: number;
  readonly #readAttempts: number;
  #closed = false;

  /** Validates `options` (throwing `FLT_CONFIG_INVALID` with each bad path) and creates the client; it connects on first use. */
  constructor(options: EtcdStoreOptions) {
    const reader = new ConfigReader();
    const o = parseEtcdStoreOptions(options, reader, "");
    reader.throwIfInvalid();
    this.#requestTimeoutMs = o.requestTimeoutMs;
    this.#readAttempts = Math.min(o.endpoints.length + 1, 4);
    this.#keys = new EtcdKeySpace(o.prefix);
    this.#client = new Etcd3({
      hosts: [...o.endpoints],
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: this.#deadline() }),
      grpcOptions: {
        // Lists of large registries exceed gRPC's default 4 MiB; etcd bounds what it sends.
        "grpc.max_receive_message_length": -1,
        // Detect a silently dead connection (no RST) while a watch is open. etcd accepts
        // pings every 5 s or slower by default.
        "grpc.keepalive_time_ms": 10_000,
        "grpc.keepalive_timeout_ms": 5_000,
      },
      faultHandling: { global: etcdPassThroughPolicy },
    });
    this.#watches = new EtcdWatchHub({
      watchClient: this.#client.watchClient,
      keys: this.#keys,
      currentRevision: () => this.currentIndex(),
      clock: o.clock,
      logger: o.logger,
    });
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    const response = await this.#read("get", () => this.#client.kv.range({ key: this.#keys.key(key) }));
    const kv = response.kvs[0];
    return kv === undefined ? undefined : this.#keys.entry(kv);
  }

  async list(prefix: string): Promise<StoreSnapshot> {
    const response = await this.#read("list", () => this.#client.kv.range(this.#keys.range(prefix)));
    return { entries: response.kvs.map((kv) => this.#keys.entry(kv)), index: revision(response.header) };
  }

  async put(key: string, value: string, options: PutOptions = {}): Promise<WriteResult> {
    this.#assertOpen("put");
    const lease = options.lease === undefined ? undefined : leaseId(options.lease);
    if (lease === null) throw new RegistryUnknownLeaseError(options.lease as string);
    const request = {
      key: this.#keys.key(key),
      value: Buffer.from(value, "utf8"),
      ...(lease === undefined ? {} : { lease }),
    };
    try {
      if (options.cas === undefined) {
        const response = await this.#write("put", () => this.#client.kv.put(request));
        return { ok: true, index: revision(response.header) };
      }
      const compare =
        options.cas === 0
          ? {
              key: request.key,
              target: CompareTarget.Create,
              result: CompareResult.Equal,
              create_revision: 0,
            }
          : {
              key: request.key,
              target: CompareTarget.Mod,
              result: CompareResult.Equal,
              mod_revision: options.cas,
            };
      const response = await this.#write("put", () =>
        this.#client.kv.txn({
          compare: [compare],
          success: [{ request_put: request }],
          failure: [{ request_range: { key: request.key } }],
        }),
      );
      if (response.succeeded) return { ok: true, index: revision(response.header) };
      return {
        ok: false,
        index: revision(response.header),
        current: this.#entry(response.responses[0]?.response_range?.kvs[0]),
      };
    } catch (error) {
      if (options.lease !== undefined && isEtcdLeaseNotFound(error)) {
        throw new RegistryUnknownLeaseError(options.lease);
      }
      throw error;
    }
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<WriteResult> {
    const etcdKey = this.#keys.key(key);
    if (options.cas === undefined) {
      const response = await this.#write("delete", () => this.#client.kv.deleteRange({ key: etcdKey }));
      return Number(response.deleted) > 0
        ? { ok: true, index: revision(response.header) }
        : { ok: false, index: revision(response.header), current: undefined };
    }
    const cas = options.cas;
    const response = await this.#write("delete", () =>
      this.#client.kv.txn({
        compare: [
          { key: etcdKey, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: cas },
        ],
        success: [{ request_delete_range: { key: etcdKey } }],
        failure: [{ request_range: { key: etcdKey } }],
      }),
    );
    const index = revision(response.header);
    const op = response.responses[0];
    if (!response.succeeded) return { ok: false, index, current: this.#entry(op?.response_range?.kvs[0]) };
    // `cas: 0` compares equal on a missing key, whose delete then deletes nothing.
    if (Number(op?.response_delete_range?.deleted ?? 0) === 0)
      return { ok: false, index, current: undefined };
    return { ok: true, index };
  }

  async grantLease(ttlMs: number): Promise<LeaseGrant> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
      throw new RegistryInvalidRequestError([
        { path: "ttlMs", message: `must be a positive number, got ${ttlMs}` },
      ]);
    }
    const ttl = Math.max(1, Math.ceil(ttlMs / 1000));
    const response = await this.#write("grantLease", () => this.#client.leaseClient.leaseGrant({ TTL: ttl }));
    if (response.error) throw etcdStoreError("grantLease", new Error(response.error));
    return { id: response.ID, ttlMs: Number(response.TTL) * 1000 };
  }

  async keepAlive(leaseId_: string): Promise<boolean> {
    const id = leaseId(leaseId_);
    if (id === null) {
      this.#assertOpen("keepAlive");
      return false;
    }
    const ttl = await this.#read("keepAlive", () => this.#keepAliveOnce(id));
    return ttl > 0;
  }

  async revokeLease(leaseId_: string): Promise<boolean> {
    const id = leaseId(leaseId_);
    if (id === null) {
      this.#assertOpen("revokeLease");
      return false;
    }
    try {
      await this.#write("revokeLease", () => this.#client.leaseClient.leaseRevoke({ ID: id }));
      return true;
    } catch (error) {
      if (isEtcdLeaseNotFound(error)) return false;
      throw error;
    }
  }

  watch(prefix: string, afterIndex: number, handlers: StoreWatchHandlers): StoreWatch {
    this.#assertOpen("watch");
    return this.#watches.watch(prefix, afterIndex, handlers);
  }

  async currentIndex(): Promise<number> {
    const response = await this.#read("currentIndex", () =>
      this.#client.kv.range({ key: this.#keys.key(""), count_only: true }),
    );
    return revision(response.header);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watches.close();
    this.#client.close();
  }

  /** One request on a LeaseKeepAlive stream of its own, closed right after: etcd's TTL answer (0: unknown lease). */
  async #keepAliveOnce(id: string): Promise<number> {
    const stream = await this.#client.leaseClient.leaseKeepAlive({ deadline: this.#deadline() });
    return new Promise<number>((resolve, reject) => {
      stream.on("data", (response) => resolve(Number(response.TTL)));
      stream.on("error", reject);
      stream.on("end", () => reject(new Error("etcd closed the keep-alive stream without an answer")));
      stream.write({ ID: id });
      // Half-closing at once ends the call as soon as etcd has answered, and keeps etcd3 from
      // counting a deadline on this stream against the host.
      stream.end();
    });
  }

  #deadline(): Date {
    // gRPC deadlines are wall-clock instants, so this is Date-based rather than the injected Clock.
    return new Date(Date.now() + this.#requestTimeoutMs);
  }

  #entry(kv: IKeyValue | undefined): StoreEntry | undefined {
    return kv === undefined ? undefined : this.#keys.entry(kv);
  }

  async #read<T>(operation: string, call: () => Promise<T>): Promise<T> {
    this.#assertOpen(operation);
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (this.#closed) throw closedError(operation, error);
        if (attempt >= this.#readAttempts || !isEtcdRetryable(error)) throw etcdStoreError(operation, error);
      }
    }
  }

  async #write<T>(operation: string, call: () => Promise<T>): Promise<T> {
    this.#assertOpen(operation);
    try {
      return await call();
    } catch (error) {
      if (this.#closed) throw closedError(operation, error);
      // The caller maps "lease not found"; everything else is a store failure.
      if (isEtcdLeaseNotFound(error)) throw error;
      throw etcdStoreError(operation, error);
    }
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw closedError(operation);
  }
}

function closedError(operation: string, cause?: unknown): RegistryError {
  return new RegistryError(
    RegistryErrorCode.StoreClosed,
    `etcd store is closed (${operation})`,
    cause === undefined ? undefined : { cause },
  );
}

function revision(header: IResponseHeader): number {
  return Number(header.revision);
}

const maxLeaseId = 2n ** 63n - 1n;

/** The etcd lease id in a store lease id (a positive decimal int64), or `null` when it cannot be one. */
function leaseId(id: string): string | null {
  if (!/^[1-9][0-9]{0,18}$/.test(id) || BigInt(id) > maxLeaseId) return null;
  return id;
}
