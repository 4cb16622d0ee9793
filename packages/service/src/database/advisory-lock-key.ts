import { createHash } from "node:crypto";

/**
 * The 64-bit key for `pg_advisory_lock` that stands for `name`: the first eight bytes of its
 * sha256, as a signed integer. Advisory locks live in the current database, so the same name in
 * two databases does not collide.
 */
export function advisoryLockKey(name: string): bigint {
  return createHash("sha256").update(name).digest().readBigInt64BE(0);
}
