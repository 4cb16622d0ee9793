import type { CallOptions } from "@flotilla/service";

/** What {@link participantCallOptions} reads from a saga step's context. */
export interface ParticipantCallContext {
  /** The step call's idempotency key, `sagaStepKey(sagaId, step, kind)`. */
  readonly idempotencyKey: string;
  /** Aborted when the step is abandoned (timeout, lease lost, shutdown). */
  readonly signal?: AbortSignal;
  /** Epoch ms by which the step must finish. */
  readonly deadline?: number;
}

/**
 * The `CallOptions` of a typed `@flotilla/service` client call made by a saga step: the step's
 * idempotency key (sent as the `Idempotency-Key` header), its abort signal and deadline. The
 * callee's idempotency store (the service server's, PostgreSQL-backed when the service has a
 * database) applies the call once per key and answers a repeat with the first response (header
 * `idempotent-replayed: true`), so a step retried after a crash does not charge twice. The callee
 * needs nothing else; only routes that are not idempotent by method (POST, PATCH) use the key.
 *
 * @example
 * ```ts
 * invoke: (data, ctx) => payments.charge({ body: { orderId: data.orderId, amount: data.total } }, participantCallOptions(ctx)),
 * ```
 */
export function participantCallOptions(context: ParticipantCallContext): CallOptions {
  return {
    idempotencyKey: context.idempotencyKey,
    ...(context.signal === undefined ? {} : { signal: context.signal }),
    ...(context.deadline === undefined ? {} : { deadline: context.deadline }),
  };
}
