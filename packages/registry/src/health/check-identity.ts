import type { ResolvedCheck } from "./resolve-checks.js";

/**
 * What makes a check the same check across a re-registration or a restart: its name, its type and
 * where it points (an http check's URL; a tcp check's `address:port`, the instance's own when the
 * check names none; nothing for ttl). Two checks with equal identities keep one status: the health
 * checker carries it over when an instance is tracked again, and the server writes it into the
 * record of a re-registration.
 *
 * ```ts
 * checkIdentity({ type: "tcp", name: "tcp-readiness", … }, "10.0.0.7", 8080); // "tcp tcp-readiness 10.0.0.7:8080"
 * ```
 */
export function checkIdentity(check: ResolvedCheck, address: string, port: number): string {
  switch (check.type) {
    case "http":
      return `http ${check.name} ${check.url}`;
    case "tcp":
      return `tcp ${check.name} ${check.address ?? address}:${check.port ?? port}`;
    case "ttl":
      return `ttl ${check.name}`;
  }
}
