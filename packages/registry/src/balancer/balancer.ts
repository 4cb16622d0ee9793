import type { ServiceInstance } from "../instance.js";

/** What a call site knows about the request it is choosing an instance for. */
export interface PickContext {
  /**
   * Affinity key for the hash balancers ({@link RingHashBalancer}, {@link MaglevBalancer}): a user
   * id, a session id, a client IP. The same key goes to the same instance while membership holds.
   * Other balancers ignore it.
   */
  readonly key?: string;
}

/** How a call to a picked instance ended, for the load-aware balancers' {@link Balancer.onEnd}. */
export interface CallResult {
  /** Milliseconds from sending the request to its response (or failure). */
  readonly latencyMs: number;
  /** HTTP status of the response, when there was one. */
  readonly status?: number;
  /** The failure, when the call failed without a response (refused, reset, timed out). */
  readonly error?: unknown;
}

/**
 * A client-side load balancer: chooses one of a service's instances for each call. Every balancer
 * is synchronous, allocates nothing per pick, takes its randomness from an injectable
 * `random` source (see {@link seededRandom}) and rebuilds its tables only in
 * {@link Balancer.update}.
 *
 * The load-aware ones also learn from each call; a call site does the same thing for all of them:
 *
 * ```ts
 * const instance = balancer.pick({ key: userId });
 * if (instance === undefined) throw new Error(`no instance of ${service}`);
 * balancer.onStart?.(instance);
 * const started = performance.now();
 * try {
 *   const res = await send(instance);
 *   balancer.onEnd?.(instance, { latencyMs: performance.now() - started, status: res.status });
 * } catch (error) {
 *   balancer.onEnd?.(instance, { latencyMs: performance.now() - started, error });
 * }
 * ```
 *
 * Every `onStart` must be followed by exactly one `onEnd` for the same instance; an `onEnd` for an
 * instance that has since left the membership is ignored.
 */
export interface Balancer {
  /** The algorithm's name as configuration spells it (`least-request`, `ring-hash` …). */
  readonly algorithm: string;
  /**
   * Chooses an instance, or `undefined` when there is none with a positive weight. Never throws,
   * never allocates.
   */
  pick(ctx?: PickContext): ServiceInstance | undefined;
  /**
   * Replaces the membership (called by discovery on every change). Instances are matched by `id`:
   * state of those that stay is kept, state of those that left is dropped. The array is copied,
   * not kept. O(n) (O(n log n) for the ring), never repeated on pick.
   */
  update(instances: readonly ServiceInstance[]): void;
  /** Tells a load-aware balancer that a call to `instance` starts. */
  onStart?(instance: ServiceInstance): void;
  /** Tells a load-aware balancer that a call to `instance` ended, and how. */
  onEnd?(instance: ServiceInstance, result: CallResult): void;
}
