import { checkIdentity } from "../health/check-identity.js";
import type { ResolvedCheck } from "../health/resolve-checks.js";
import type { CheckStatus, HealthStatus } from "../registration.js";
import type { ViewInstance } from "./store-layout.js";

/** What a lapsed lease writes into the TTL check's `output`. */
export const leaseExpiredOutput = "lease expired";
/** What an http or tcp check says before its first run. */
export const notCheckedOutput = "not yet checked";

const rank: Record<HealthStatus, number> = { passing: 0, warning: 1, critical: 2 };

/**
 * The statuses of a new registration: the TTL check passing (the lease was just granted), http and
 * tcp checks critical until their first run passes, as Consul does, so an instance is not routed
 * to before it answered once.
 */
export function initialChecks(definitions: readonly ResolvedCheck[], now: number): CheckStatus[] {
  return definitions.map((d) =>
    d.type === "ttl"
      ? { name: d.name, type: "ttl", kind: "liveness", status: "passing", since: now }
      : {
          name: d.name,
          type: d.type,
          kind: d.kind,
          status: "critical",
          output: notCheckedOutput,
          since: now,
        },
  );
}

/**
 * The statuses of a registration that replaces `previous` (the same id, registered before): an
 * http or tcp check with the same name, type and destination as one of the previous registration's
 * ({@link checkIdentity}) keeps that check's status, output and `since`, so registering again does
 * not take a healthy instance out of rotation; every other check is as {@link initialChecks} says.
 * Nothing is kept from a registration whose lease expired: its checks stopped running then.
 */
export function registrationChecks(
  definitions: readonly ResolvedCheck[],
  target: { readonly address: string; readonly port: number },
  now: number,
  previous: ViewInstance | undefined,
): CheckStatus[] {
  const checks = initialChecks(definitions, now);
  if (previous === undefined || isLeaseExpired(previous.record.checks)) return checks;
  const { record } = previous;
  const before = new Map<string, CheckStatus>();
  for (const d of previous.definitions) {
    if (d.type === "ttl") continue;
    const status = record.checks.find((c) => c.name === d.name && c.type === d.type);
    if (status !== undefined) before.set(checkIdentity(d, record.address, record.port), status);
  }
  return checks.map((check, i) => {
    const d = definitions[i] as ResolvedCheck;
    if (d.type === "ttl") return check;
    const kept = before.get(checkIdentity(d, target.address, target.port));
    if (kept === undefined) return check;
    const { output: _, ...rest } = check;
    return {
      ...rest,
      status: kept.status,
      ...(kept.output === undefined ? {} : { output: kept.output }),
      since: kept.since,
    };
  });
}

/** The worst status among `checks` (`passing` when there are none). */
export function aggregateStatus(checks: readonly CheckStatus[]): HealthStatus {
  let worst: HealthStatus = "passing";
  for (const check of checks) if (rank[check.status] > rank[worst]) worst = check.status;
  return worst;
}

/** `checks` with the TTL check critical and `lease expired` (`since` kept when it already was). */
export function withLeaseExpired(checks: readonly CheckStatus[], now: number): CheckStatus[] {
  return checks.map((c) =>
    c.type !== "ttl" || (c.status === "critical" && c.output === leaseExpiredOutput)
      ? c
      : { ...c, status: "critical", output: leaseExpiredOutput, since: now },
  );
}

/** True when the TTL check says the lease lapsed. */
export function isLeaseExpired(checks: readonly CheckStatus[]): boolean {
  return checks.some((c) => c.type === "ttl" && c.status === "critical" && c.output === leaseExpiredOutput);
}

/** `checks` with each check named in `results` replaced by its new status; the others kept. */
export function mergeCheckResults(
  checks: readonly CheckStatus[],
  results: readonly CheckStatus[],
): CheckStatus[] {
  const byName = new Map(results.map((r) => [r.name, r]));
  return checks.map((c) => {
    const result = byName.get(c.name);
    return result === undefined || result.type === "ttl" ? c : result;
  });
}

/** True when both lists say the same (names, statuses, outputs, in order). */
export function sameChecks(a: readonly CheckStatus[], b: readonly CheckStatus[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name || x.status !== y.status || x.output !== y.output) return false;
  }
  return true;
}
