import { AsyncLocalStorage } from "node:async_hooks";

/**
 * What a request being handled carries across `await`s to the calls it makes: the deadline
 * (epoch ms) that outbound calls must respect and forward, and who called. The server enters a
 * scope per request; the service client reads it. Cross-copy safe: the storage lives on a global
 * symbol, so two copies of this package in one process share it.
 */
export interface RequestScope {
  /** Epoch ms by which the current request must be answered; absent when unbounded. */
  readonly deadline?: number | undefined;
  /** The calling service (`orders/orders-7f9c`), when the caller said. */
  readonly caller?: string | undefined;
  /** Aborts when the request is abandoned (client gone, deadline passed, server draining). */
  readonly signal?: AbortSignal | undefined;
}

const key = Symbol.for("flotilla.service.requestScope");
const globals = globalThis as unknown as Record<symbol, AsyncLocalStorage<RequestScope> | undefined>;
const storage: AsyncLocalStorage<RequestScope> = globals[key] ?? new AsyncLocalStorage<RequestScope>();
globals[key] = storage;

/** The scope of the request being handled, if any. */
export function currentRequestScope(): RequestScope | undefined {
  return storage.getStore();
}

/** Runs `fn` inside `scope`. */
export function runInRequestScope<T>(scope: RequestScope, fn: () => T): T {
  return storage.run(scope, fn);
}

/** Headers that carry the scope between services. */
export const scopeHeaders = {
  /**
   * Milliseconds the callee has left, relative so clock skew between hosts does not matter
   * (as gRPC's `grpc-timeout`); the callee subtracts nothing and sets its deadline to now + value.
   */
  timeout: "x-flotilla-timeout-ms",
  /** `<service>/<instance id>` of the caller. */
  caller: "x-flotilla-caller",
  /** https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/ */
  idempotencyKey: "idempotency-key",
} as const;
