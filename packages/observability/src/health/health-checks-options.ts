import { type Clock, ConfigReader, type Duration } from "@flotilla/resilience";
import type { HealthCheck, HealthCheckSpec } from "./health-check.js";

/** How to build {@link HealthChecks}: plain data, validated by {@link parseHealthChecksOptions}. */
export interface HealthChecksOptions {
  /** Liveness checks: is this process able to work at all? Keep them free of dependencies. */
  readonly live?: Readonly<Record<string, HealthCheck | HealthCheckSpec>>;
  /** Readiness checks: should traffic come here now? The database, the dependencies it cannot work without. */
  readonly ready?: Readonly<Record<string, HealthCheck | HealthCheckSpec>>;
  /** How long each check may run before it is reported as failed. Default `"2s"`. */
  readonly timeout?: Duration;
  /**
   * How long a check's result is reused. Probes within this time, and probes that arrive while the
   * check runs, share one run. `0` shares only the runs in flight. Default `"1s"`.
   */
  readonly cacheTtl?: Duration;
  /** The paths {@link HealthChecks.handle} answers. Default `/health/live` and `/health/ready`. */
  readonly paths?: { readonly live?: string; readonly ready?: string };
  /** Time source for timeouts, latencies and the cache. Default the system clock. */
  readonly clock?: Clock;
}

/** One validated check. */
export interface ResolvedCheck {
  readonly name: string;
  readonly check: HealthCheck;
  readonly timeoutMs: number;
}

/** {@link HealthChecksOptions} after validation. */
export interface ResolvedHealthChecksOptions {
  readonly live: readonly ResolvedCheck[];
  readonly ready: readonly ResolvedCheck[];
  readonly timeoutMs: number;
  readonly cacheTtlMs: number;
  readonly livePath: string;
  readonly readyPath: string;
  readonly clock: Clock;
}

const known = ["live", "ready", "timeout", "cacheTtl", "paths", "clock"];

/** Validates `options`, recording every problem in `reader` with its path (`ready.db.timeout`). */
export function parseHealthChecksOptions(
  options: HealthChecksOptions,
  reader: ConfigReader = new ConfigReader(),
): ResolvedHealthChecksOptions {
  const raw = reader.object(options, "");
  reader.knownKeys(raw, known, "");
  const timeoutMs = reader.duration(raw, "timeout", "", 2000, { above: 0 });
  const cacheTtlMs = reader.duration(raw, "cacheTtl", "", 1000);
  const paths = reader.object(raw.paths, "paths");
  reader.knownKeys(paths, ["live", "ready"], "paths");
  const livePath = reader.string(paths, "live", "paths", "/health/live");
  const readyPath = reader.string(paths, "ready", "paths", "/health/ready");
  for (const [key, path] of [
    ["live", livePath],
    ["ready", readyPath],
  ] as const) {
    if (!path.startsWith("/")) reader.issue(`paths.${key}`, `must start with "/", got "${path}"`);
  }
  if (livePath === readyPath) reader.issue("paths.ready", `must differ from paths.live ("${livePath}")`);
  return {
    live: readChecks(raw.live, "live", timeoutMs, reader),
    ready: readChecks(raw.ready, "ready", timeoutMs, reader),
    timeoutMs,
    cacheTtlMs,
    livePath,
    readyPath,
    clock: reader.clock(raw, "clock", ""),
  };
}

function readChecks(value: unknown, path: string, timeoutMs: number, reader: ConfigReader): ResolvedCheck[] {
  const checks: ResolvedCheck[] = [];
  for (const [name, entry] of Object.entries(reader.object(value, path))) {
    const at = `${path}.${name}`;
    if (name === "") reader.issue(at, "a check needs a name");
    if (typeof entry === "function") {
      checks.push({ name, check: entry as HealthCheck, timeoutMs });
      continue;
    }
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      reader.issue(at, "expected a check function or { check, timeout }");
      continue;
    }
    const spec = entry as Record<string, unknown>;
    reader.knownKeys(spec, ["check", "timeout"], at);
    const check = reader.fn<HealthCheck>(spec, "check", at);
    if (check === undefined) {
      if (spec.check === undefined) reader.issue(`${at}.check`, "expected a function");
      continue;
    }
    checks.push({ name, check, timeoutMs: reader.duration(spec, "timeout", at, timeoutMs, { above: 0 }) });
  }
  return checks;
}
