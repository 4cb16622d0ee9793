import { createHash, timingSafeEqual } from "node:crypto";

/** What an `Authorization` header came to. */
export type AdminTokenVerdict = "ok" | "missing" | "invalid";

const bearerPrefix = /^bearer +/i;

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/**
 * Checks `Authorization: Bearer <token>` against the admin token. Both sides are compared as
 * SHA-256 digests with `timingSafeEqual`, so neither the token's content nor its length shows
 * in the time a wrong guess takes.
 */
export class AdminToken {
  readonly #expected: Buffer;

  constructor(token: string) {
    this.#expected = digest(token);
  }

  /** The verdict on an `Authorization` header value (`undefined` when there was none). */
  check(authorization: string | undefined): AdminTokenVerdict {
    if (authorization === undefined || authorization.length === 0) return "missing";
    const match = bearerPrefix.exec(authorization);
    if (match === null) return "invalid";
    const presented = authorization.slice(match[0].length).trim();
    return timingSafeEqual(digest(presented), this.#expected) ? "ok" : "invalid";
  }
}

/** An {@link AdminToken} for `token`. */
export function adminToken(token: string): AdminToken {
  return new AdminToken(token);
}
