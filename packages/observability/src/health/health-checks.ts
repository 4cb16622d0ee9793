import type { IncomingMessage, ServerResponse } from "node:http";
import { type Clock, ConfigReader } from "@flotilla/resilience";
import type { CheckReport, HealthPhase, HealthReport, HealthStatus } from "./health-check.js";
import {
  type HealthChecksOptions,
  parseHealthChecksOptions,
  type ResolvedCheck,
  type ResolvedHealthChecksOptions,
} from "./health-checks-options.js";
import { HealthCheckTimeoutError } from "./health-error.js";

/** The `Content-Type` of probe answers (draft-inadarei-api-health-check-06 §3). */
export const healthContentType = "application/health+json";

const statusRank: Record<HealthStatus, number> = { pass: 0, warn: 1, fail: 2 };
const noChecks: Readonly<Record<string, CheckReport>> = Object.freeze({});

/**
 * Liveness and readiness of one service instance, answered over `node:http` at `/health/live`
 * and `/health/ready` with a JSON body listing each check's status and latency, HTTP 200 when
 * every check passes or warns and 503 otherwise.
 *
 * - Each check runs with its own timeout; one that does not settle in time is reported as `fail`.
 * - Results are cached for `cacheTtl`, and probes that arrive while a check runs wait for that
 *   run, so any number of probes costs at most one run per check per `cacheTtl`. A check whose
 *   previous run is still pending after its timeout is not started again: it reports `fail` until
 *   that run settles, so a hung database is not sent one more query per probe.
 * - Readiness answers 503 `starting` until {@link HealthChecks.markReady}, and 503 `draining`
 *   after {@link HealthChecks.drain}, without running checks; liveness is not affected by either.
 *
 * @example
 * ```ts
 * const health = healthChecks({ ready: { db: postgresCheck(pool), payments: httpCheck(paymentsUrl) } });
 * http.createServer((req, res) => health.handle(req, res) || app(req, res));
 * await migrate();
 * health.markReady();
 * process.on("SIGTERM", () => { health.drain(); … });
 * ```
 */
export class HealthChecks {
  /** The validated options. */
  readonly options: ResolvedHealthChecksOptions;
  readonly #live: CheckRunner[];
  readonly #ready: CheckRunner[];
  #phase: HealthPhase = "starting";

  /** Validates `options`; throws a `ConfigError` listing every bad one with its path. */
  constructor(options: HealthChecksOptions = {}) {
    const reader = new ConfigReader();
    const o = parseHealthChecksOptions(options, reader);
    reader.throwIfInvalid();
    this.options = o;
    this.#live = o.live.map((c) => new CheckRunner(c, o.cacheTtlMs, o.clock));
    this.#ready = o.ready.map((c) => new CheckRunner(c, o.cacheTtlMs, o.clock));
  }

  /** The current lifecycle phase. */
  get phase(): HealthPhase {
    return this.#phase;
  }

  /** Ends the startup phase: readiness runs its checks from now on. Ignored once draining. */
  markReady(): void {
    if (this.#phase === "starting") this.#phase = "ready";
  }

  /** Starts draining: readiness answers 503 `draining` from now on, so load balancers stop sending traffic. */
  drain(): void {
    this.#phase = "draining";
  }

  /** Runs (or reuses) the liveness checks. */
  live(): Promise<HealthReport> {
    return report(this.#live);
  }

  /** Runs (or reuses) the readiness checks, unless the phase already answers. */
  ready(): Promise<HealthReport> {
    if (this.#phase !== "ready") return Promise.resolve({ status: this.#phase, checks: noChecks });
    return report(this.#ready);
  }

  /**
   * Answers `GET` and `HEAD` of the liveness and readiness paths (query string ignored) and
   * returns true; 405 for other methods there. Returns false, touching nothing, for other paths.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    const path = query === -1 ? url : url.slice(0, query);
    const probe =
      path === this.options.livePath ? this.live : path === this.options.readyPath ? this.ready : undefined;
    if (probe === undefined) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res
        .writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" })
        .end("method not allowed\n");
      return true;
    }
    probe.call(this).then(
      (result) => {
        const body = JSON.stringify(result);
        res.writeHead(result.status === "pass" || result.status === "warn" ? 200 : 503, {
          "content-type": healthContentType,
          "content-length": Buffer.byteLength(body),
          "cache-control": "no-store",
        });
        res.end(req.method === "HEAD" ? undefined : body);
      },
      (error: unknown) => {
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end(`health check failed: ${error instanceof Error ? error.message : String(error)}\n`);
      },
    );
    return true;
  }
}

/** Builds {@link HealthChecks}; throws a `ConfigError` listing every bad option. */
export function healthChecks(options: HealthChecksOptions = {}): HealthChecks {
  return new HealthChecks(options);
}

async function report(runners: readonly CheckRunner[]): Promise<HealthReport> {
  const reports = await Promise.all(runners.map((r) => r.get()));
  const checks: Record<string, CheckReport> = {};
  let status: HealthStatus = "pass";
  reports.forEach((r, i) => {
    checks[runners[i]!.name] = r;
    if (statusRank[r.status] > statusRank[status]) status = r.status;
  });
  return { status, checks };
}

/** One check with its cache, its run in flight, and its run that outlived its timeout. */
class CheckRunner {
  readonly name: string;
  readonly #check: ResolvedCheck;
  readonly #ttl: number;
  readonly #clock: Clock;
  #cached: CheckReport | undefined;
  #cachedAt = 0;
  #running: Promise<CheckReport> | undefined;
  /** When the check's last promise started, while it has not settled (even after its timeout). */
  #pendingSince: number | undefined;

  constructor(check: ResolvedCheck, ttl: number, clock: Clock) {
    this.name = check.name;
    this.#check = check;
    this.#ttl = ttl;
    this.#clock = clock;
  }

  get(): Promise<CheckReport> {
    if (this.#running !== undefined) return this.#running;
    if (this.#cached !== undefined && this.#clock.now() - this.#cachedAt < this.#ttl) {
      return Promise.resolve(this.#cached);
    }
    const running = this.#run().then((result) => {
      this.#cached = result;
      this.#cachedAt = this.#clock.now();
      this.#running = undefined;
      return result;
    });
    this.#running = running;
    return running;
  }

  #run(): Promise<CheckReport> {
    const clock = this.#clock;
    const start = clock.now();
    if (this.#pendingSince !== undefined) {
      return Promise.resolve({
        status: "fail",
        latencyMs: 0,
        error: `the previous run, started ${round(start - this.#pendingSince)} ms ago, has not finished`,
      });
    }
    const { name, check, timeoutMs } = this.#check;
    const controller = new AbortController();
    let outcome: Promise<unknown>;
    try {
      outcome = Promise.resolve(check({ signal: controller.signal }));
    } catch (error) {
      outcome = Promise.reject(error);
    }
    this.#pendingSince = start;
    const settled = () => {
      this.#pendingSince = undefined;
    };
    outcome.then(settled, settled);
    return new Promise<CheckReport>((resolve) => {
      const timer = clock.setTimeout(() => {
        const error = new HealthCheckTimeoutError(name, timeoutMs);
        controller.abort(error);
        resolve({ status: "fail", latencyMs: round(clock.now() - start), error: error.message });
      }, timeoutMs);
      outcome.then(
        (value) => {
          clock.clearTimeout(timer);
          resolve(fromValue(value, round(clock.now() - start)));
        },
        (error: unknown) => {
          clock.clearTimeout(timer);
          resolve({ status: "fail", latencyMs: round(clock.now() - start), error: messageOf(error) });
        },
      );
    });
  }
}

function fromValue(value: unknown, latencyMs: number): CheckReport {
  if (value === undefined || value === null) return { status: "pass", latencyMs };
  if (typeof value !== "object") {
    return { status: "fail", latencyMs, error: `the check returned ${typeof value}, not a result object` };
  }
  const { status = "pass", details } = value as { status?: unknown; details?: unknown };
  if (status !== "pass" && status !== "warn" && status !== "fail") {
    return { status: "fail", latencyMs, error: `the check returned status ${JSON.stringify(status)}` };
  }
  return details === undefined ? { status, latencyMs } : { status, latencyMs, details };
}

function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map(messageOf).join("; ");
  }
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
