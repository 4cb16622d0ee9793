import type { IOptions } from "etcd3";

type EtcdPolicy = NonNullable<NonNullable<IOptions["faultHandling"]>["global"]>;

const noEvent = () => ({ dispose() {} });

/**
 * A fault-handling policy for etcd3's client that runs each call once. etcd3's default global
 * policy retries "recoverable" errors (unavailable, deadline) up to three times, which would
 * replay writes that etcd may already have applied: a compare-and-set that succeeded would
 * then report a mismatch. The store retries only idempotent reads itself.
 */
export const etcdPassThroughPolicy = {
  onSuccess: noEvent,
  onFailure: noEvent,
  execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    return Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal }));
  },
} as unknown as EtcdPolicy;
