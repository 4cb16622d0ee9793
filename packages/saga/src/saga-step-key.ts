import { createHash } from "node:crypto";

/** Which side of a step a participant call belongs to. */
export type StepKind = "invoke" | "compensate";

/**
 * Fixed namespace UUID for deriving message ids from saga step keys (UUID v5).
 * Never change it: re-sent commands of running sagas must keep their ids.
 */
export const sagaKeyNamespace = "6f1c2d3e-8a4b-5c6d-9e7f-0a1b2c3d4e5f";

/**
 * Idempotency key of one participant call of a saga step: `saga:<sagaId>:<step>:<invoke|compensate>`.
 * The same call repeated after a crash or a retry carries the same key, so the participant
 * can return its first result instead of applying the effect again.
 *
 * @example
 * sagaStepKey("0b6e…", "payment", "invoke"); // "saga:0b6e…:payment:invoke"
 */
export function sagaStepKey(sagaId: string, step: string, kind: StepKind): string {
  return `saga:${sagaId}:${step}:${kind}`;
}

/**
 * Deterministic UUID v5 (RFC 9562) of `name` in `namespace` (default {@link sagaKeyNamespace}).
 * Used as the envelope id of a command sent for a saga step, so a re-sent command has the same id.
 */
export function uuidV5(name: string, namespace: string = sagaKeyNamespace): string {
  const ns = Buffer.from(namespace.replaceAll("-", ""), "hex");
  const hash = createHash("sha1").update(ns).update(name, "utf8").digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Envelope id (UUID v5 of {@link sagaStepKey}) for the command a saga step sends. */
export function sagaStepMessageId(sagaId: string, step: string, kind: StepKind): string {
  return uuidV5(sagaStepKey(sagaId, step, kind));
}
