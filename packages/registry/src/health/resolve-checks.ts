import { ConfigReader } from "@flotilla/resilience";
import type { CheckDefinition } from "../registration.js";
import { RegistryInvalidRequestError, type RequestIssue } from "../registry-error.js";

/** Which way a failing check counts: see {@link HttpCheckDefinition.kind}. */
export type CheckKind = "liveness" | "readiness";

/** The defaults {@link resolveChecks} applies to fields a {@link CheckDefinition} leaves out. */
export interface CheckDefaults {
  /** Default `readiness`. */
  readonly kind: CheckKind;
  /** Time between runs; default 10 s. */
  readonly intervalMs: number;
  /** Time one run may take; default 2 s (a check's timeout is at most its interval). */
  readonly timeoutMs: number;
  /** Deregister an instance critical on the check this long; default `undefined`: never. */
  readonly deregisterCriticalAfterMs: number | undefined;
}

/** The built-in {@link CheckDefaults}. */
export const checkDefaults: CheckDefaults = Object.freeze({
  kind: "readiness",
  intervalMs: 10_000,
  timeoutMs: 2_000,
  deregisterCriticalAfterMs: undefined,
});

/** The shortest interval a check may run at: anything faster is a load test, not a health check. */
export const minCheckIntervalMs = 100;
/** The longest interval (and deregistration delay): one day, well inside a timer's 2^31 - 1 ms. */
export const maxCheckIntervalMs = 86_400_000;

/** What every resolved check has: a unique name and its kind. */
interface ResolvedCheckBase {
  /** Unique among the instance's checks. */
  readonly name: string;
  readonly kind: CheckKind;
  /** Absent: never deregister for this check. */
  readonly deregisterCriticalAfterMs?: number;
}

/** Timing of a check the registry runs itself. */
interface ResolvedTiming extends ResolvedCheckBase {
  readonly intervalMs: number;
  /** At most {@link ResolvedTiming.intervalMs}. */
  readonly timeoutMs: number;
}

/** An HTTP check with its defaults applied. */
export interface ResolvedHttpCheck extends ResolvedTiming {
  readonly type: "http";
  readonly url: string;
}

/**
 * A TCP check with its defaults applied. `address` and `port`, when absent, are the instance's
 * own; the health checker fills them in from its target.
 */
export interface ResolvedTcpCheck extends ResolvedTiming {
  readonly type: "tcp";
  readonly address?: string;
  readonly port?: number;
}

/**
 * A TTL check: passing while the instance's lease is renewed. The registry does not run it; it is
 * a `liveness` check (a lapsed lease means the instance is presumed gone).
 */
export interface ResolvedTtlCheck extends ResolvedCheckBase {
  readonly type: "ttl";
  readonly kind: "liveness";
}

/** A {@link CheckDefinition} with every default applied; discriminated by `type`. */
export type ResolvedCheck = ResolvedHttpCheck | ResolvedTcpCheck | ResolvedTtlCheck;

/** The checks the health checker runs itself (not `ttl`). */
export type ActiveCheck = ResolvedHttpCheck | ResolvedTcpCheck;

/**
 * Applies the defaults to an instance's check definitions (shapes already validated by the
 * server's request schema): kind `readiness` (`liveness` for ttl), interval 10 s, timeout 2 s
 * clamped to the interval, no deregistration, and a name of `<type>-<kind>` (`http-readiness`).
 * Names are made unique by suffixing `-2`, `-3`, …; names given explicitly are kept as given when
 * they are unique, and defaulted names avoid them.
 *
 * Throws a {@link RegistryInvalidRequestError} listing every out-of-range field by path
 * (`checks[1].intervalMs`): an interval below 100 ms or above a day, a timeout that is not
 * positive, a deregistration delay that is negative or above a day. Throws a `ConfigError` for bad
 * `defaults`.
 *
 * ```ts
 * resolveChecks([{ type: "http", url: "http://10.0.0.7:8080/health/ready" }, { type: "ttl" }]);
 * // [{ type: "http", name: "http-readiness", kind: "readiness", intervalMs: 10000, timeoutMs: 2000, url: … },
 * //  { type: "ttl", name: "ttl-liveness", kind: "liveness" }]
 * ```
 */
export function resolveChecks(
  defs: readonly CheckDefinition[],
  defaults: Partial<CheckDefaults> = {},
): ResolvedCheck[] {
  const d = parseDefaults(defaults);
  const issues: RequestIssue[] = [];
  const names = uniqueNames(defs, d.kind);
  const resolved = defs.map((def, i): ResolvedCheck => {
    const name = names[i] as string;
    const deregister = def.deregisterCriticalAfterMs ?? d.deregisterCriticalAfterMs;
    if (deregister !== undefined && !inRange(deregister, 0, maxCheckIntervalMs)) {
      issues.push({
        path: `checks[${i}].deregisterCriticalAfterMs`,
        message: `must be from 0 to ${maxCheckIntervalMs} ms, got ${deregister}`,
      });
    }
    const dereg = deregister === undefined ? {} : { deregisterCriticalAfterMs: deregister };
    if (def.type === "ttl") return { type: "ttl", name, kind: "liveness", ...dereg };

    const intervalMs = def.intervalMs ?? d.intervalMs;
    if (!inRange(intervalMs, minCheckIntervalMs, maxCheckIntervalMs)) {
      issues.push({
        path: `checks[${i}].intervalMs`,
        message: `must be from ${minCheckIntervalMs} to ${maxCheckIntervalMs} ms, got ${intervalMs}`,
      });
    }
    const timeout = def.timeoutMs ?? d.timeoutMs;
    if (!(Number.isFinite(timeout) && timeout > 0)) {
      issues.push({ path: `checks[${i}].timeoutMs`, message: `must be more than 0 ms, got ${timeout}` });
    }
    const timing = {
      name,
      kind: def.kind ?? d.kind,
      intervalMs,
      timeoutMs: Math.min(timeout, intervalMs),
      ...dereg,
    };
    if (def.type === "http") return { type: "http", ...timing, url: def.url };
    return {
      type: "tcp",
      ...timing,
      ...(def.address === undefined ? {} : { address: def.address }),
      ...(def.port === undefined ? {} : { port: def.port }),
    };
  });
  if (issues.length > 0) throw new RegistryInvalidRequestError(issues);
  return resolved;
}

function parseDefaults(raw: Partial<CheckDefaults>): CheckDefaults {
  if (raw === checkDefaults || Object.keys(raw).length === 0) return checkDefaults;
  const reader = new ConfigReader();
  const obj = reader.object(raw, "");
  reader.knownKeys(obj, ["kind", "intervalMs", "timeoutMs", "deregisterCriticalAfterMs"], "");
  const d = checkDefaults;
  const range = { min: minCheckIntervalMs, max: maxCheckIntervalMs };
  const resolved: CheckDefaults = {
    kind: reader.oneOf(obj, "kind", "", ["liveness", "readiness"], d.kind),
    intervalMs: reader.number(obj, "intervalMs", "", d.intervalMs, range),
    timeoutMs: reader.number(obj, "timeoutMs", "", d.timeoutMs, { above: 0 }),
    deregisterCriticalAfterMs: reader.optionalNumber(obj, "deregisterCriticalAfterMs", "", {
      min: 0,
      max: maxCheckIntervalMs,
    }),
  };
  reader.throwIfInvalid();
  return resolved;
}

/** Explicit names claim themselves first; defaulted names and repeats take the next free suffix. */
function uniqueNames(defs: readonly CheckDefinition[], defaultKind: CheckKind): string[] {
  const taken = new Set<string>();
  const names: (string | undefined)[] = defs.map((def) => {
    if (def.name === undefined || taken.has(def.name)) return undefined;
    taken.add(def.name);
    return def.name;
  });
  return defs.map((def, i) => {
    const given = names[i];
    if (given !== undefined) return given;
    const kind = def.type === "ttl" ? "liveness" : (def.kind ?? defaultKind);
    const base = def.name ?? `${def.type}-${kind}`;
    let name = base;
    for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
    taken.add(name);
    return name;
  });
}

function inRange(value: number, min: number, max: number): boolean {
  return Number.isFinite(value) && value >= min && value <= max;
}
