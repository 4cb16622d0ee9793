import { ConfigReader, type TimerHandle } from "@flotilla/resilience";
import type { CheckStatus, HealthStatus } from "../registration.js";
import { checkIdentity } from "./check-identity.js";
import {
  type HealthCheckerOptions,
  parseHealthCheckerOptions,
  type ResolvedHealthCheckerOptions,
} from "./health-checker-options.js";
import { type Probe, type ProbeResult, SystemProbe } from "./probe.js";
import { describeProbeError } from "./probe-deadline.js";
import type { ActiveCheck, ResolvedCheck } from "./resolve-checks.js";

/** The instance a {@link HealthChecker} checks: TCP checks default to its address and port. */
export interface HealthCheckTarget {
  readonly id: string;
  readonly address: string;
  readonly port: number;
}

/** Plain numbers describing a {@link HealthChecker} now, for metrics and tests. */
export interface HealthCheckerStats {
  /** Instances with at least one http or tcp check. */
  readonly instances: number;
  /** Their http and tcp checks. */
  readonly checks: number;
  /** Runs started and not yet finished; at most `maxConcurrent`. */
  readonly inFlight: number;
  /** Runs that are due but wait for a free slot. */
  readonly queued: number;
}

/** One run in flight; settled once, by its result, its timeout or its cancellation. */
interface Run {
  readonly controller: AbortController;
  timer: TimerHandle | undefined;
  settled: boolean;
}

interface CheckState {
  readonly tracked: Tracked;
  readonly check: ActiveCheck;
  /** Where a tcp check connects (the check's own, else the instance's). */
  readonly address: string;
  readonly port: number;
  /** {@link checkIdentity}: what a later `track` must match to carry this state over. */
  readonly identity: string;
  status: HealthStatus;
  output: string | undefined;
  since: number;
  successes: number;
  failures: number;
  timer: TimerHandle | undefined;
  run: Run | undefined;
  queued: boolean;
  cancelled: boolean;
  /** Whether a result was taken since this state was tracked (the first one is always reported). */
  reported: boolean;
}

interface Tracked {
  readonly id: string;
  readonly states: CheckState[];
  snapshot: readonly CheckStatus[];
}

const notYetChecked = "not yet checked";

/**
 * Active health checking of registered instances, with Consul's semantics
 * (https://developer.hashicorp.com/consul/docs/services/usage/checks): each http and tcp check of
 * a tracked instance runs every `intervalMs` (jittered) with a `timeoutMs` deadline; HTTP 2xx is
 * `passing`, 429 `warning`, anything else, a connection error or a timeout `critical`. A check
 * starts from the status `track` is given for it (what the instance's record holds), else
 * `critical` with output `not yet checked`. `ttl` checks are not run here: the registry server
 * derives them from leases.
 *
 * A check's next run is scheduled when its previous run finishes, so a slow probe is never run
 * twice at once. At most `maxConcurrent` runs are in flight over all instances; due runs beyond
 * that queue in order. The checker enforces each run's timeout itself with its clock (aborting
 * the probe's signal), so a probe that never settles cannot hold a slot. A probe that throws
 * counts as `critical` with the error's message.
 *
 * {@link HealthCheckerOptions.onChange} is called, synchronously after a run, for the first result
 * each check takes after `track` (whatever it is: a check failing from the start still reports its
 * output once) and then whenever a check's status changes; `statusOf` also reflects the latest
 * output of each check.
 *
 * ```ts
 * const checker = healthChecker({ onChange: (id, checks) => store.updateChecks(id, checks) });
 * checker.track({ id: "orders-1", address: "10.0.0.7", port: 8080 }, resolveChecks(request.checks ?? []));
 * ```
 */
export class HealthChecker {
  /** The validated options. */
  readonly options: ResolvedHealthCheckerOptions;
  readonly #probe: Probe;
  readonly #ownProbe: SystemProbe | undefined;
  readonly #tracked = new Map<string, Tracked>();
  #queue: CheckState[] = [];
  #queueHead = 0;
  #inFlight = 0;
  #closed = false;

  constructor(options: HealthCheckerOptions) {
    const reader = new ConfigReader();
    const resolved = parseHealthCheckerOptions(options, reader, "");
    reader.throwIfInvalid();
    this.options = resolved;
    this.#ownProbe = resolved.probe === undefined ? new SystemProbe({ clock: resolved.clock }) : undefined;
    this.#probe = resolved.probe ?? (this.#ownProbe as SystemProbe);
  }

  /**
   * Starts checking `target` with the http and tcp checks among `checks` (ttl checks are
   * ignored), replacing any previous tracking of `target.id`: its timers are cleared and runs in
   * flight aborted. A check with the same name, type and destination as before
   * ({@link checkIdentity}) keeps its status and counters, so re-registering an instance does not
   * take it out of rotation. Any other check starts from its entry in `initial` (matched by name
   * and type: the statuses stored in the instance's record, so a server that starts or restarts
   * adopts them), else `critical` / `not yet checked`. `onChange` is not called here: read the
   * initial statuses with {@link HealthChecker.statusOf}. Ignored after `close()`.
   */
  track(
    target: HealthCheckTarget,
    checks: readonly ResolvedCheck[],
    initial: readonly CheckStatus[] = [],
  ): void {
    if (this.#closed) return;
    const previous = this.#tracked.get(target.id);
    if (previous !== undefined) this.#cancel(previous);
    const active = checks.filter((c): c is ActiveCheck => c.type !== "ttl");
    if (active.length === 0) {
      this.#drain();
      return;
    }
    const now = this.options.wallClock();
    const tracked: Tracked = { id: target.id, states: [], snapshot: [] };
    for (const check of active) {
      const address = check.type === "tcp" ? (check.address ?? target.address) : target.address;
      const port = check.type === "tcp" ? (check.port ?? target.port) : target.port;
      const identity = checkIdentity(check, target.address, target.port);
      const carried = previous?.states.find((s) => s.identity === identity);
      const seed =
        carried ?? initial.find((c) => c.name === check.name && c.type === check.type && isStatus(c.status));
      tracked.states.push({
        tracked,
        check,
        address,
        port,
        identity,
        status: seed?.status ?? "critical",
        output: seed === undefined ? notYetChecked : seed.output,
        since: seed !== undefined && Number.isFinite(seed.since) ? seed.since : now,
        successes: carried?.successes ?? 0,
        failures: carried?.failures ?? 0,
        timer: undefined,
        run: undefined,
        queued: false,
        cancelled: false,
        reported: false,
      });
    }
    tracked.snapshot = snapshotOf(tracked);
    this.#tracked.set(target.id, tracked);
    const { firstRunSpreadMs } = this.options;
    for (const state of tracked.states) {
      const spread = Math.min(state.check.intervalMs, firstRunSpreadMs);
      this.#schedule(state, spread === 0 ? 0 : this.#random() * spread);
    }
    this.#drain();
  }

  /** Stops checking `id`: clears its timers and aborts its runs in flight. Unknown ids are ignored. */
  untrack(id: string): void {
    const tracked = this.#tracked.get(id);
    if (tracked === undefined) return;
    this.#cancel(tracked);
    this.#drain();
  }

  /**
   * The latest status of each http and tcp check of `id`, in the order given to `track`;
   * `undefined` when `id` is not tracked or has no such checks. The array is immutable and
   * replaced on every change.
   */
  statusOf(id: string): readonly CheckStatus[] | undefined {
    return this.#tracked.get(id)?.snapshot;
  }

  /** Counts for metrics. */
  stats(): HealthCheckerStats {
    let checks = 0;
    for (const tracked of this.#tracked.values()) checks += tracked.states.length;
    return {
      instances: this.#tracked.size,
      checks,
      inFlight: this.#inFlight,
      queued: this.#queue.length - this.#queueHead,
    };
  }

  /**
   * Stops everything: clears every timer, aborts runs in flight, forgets every instance and
   * closes the checker's own probe (when it made one). Idempotent; `track` does nothing afterwards.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const tracked of this.#tracked.values()) this.#cancel(tracked);
    this.#queue = [];
    this.#queueHead = 0;
    await this.#ownProbe?.close();
  }

  #cancel(tracked: Tracked): void {
    if (this.#tracked.get(tracked.id) === tracked) this.#tracked.delete(tracked.id);
    for (const state of tracked.states) {
      state.cancelled = true;
      if (state.timer !== undefined) this.options.clock.clearTimeout(state.timer);
      state.timer = undefined;
      const run = state.run;
      if (run !== undefined && !run.settled) {
        run.settled = true;
        if (run.timer !== undefined) this.options.clock.clearTimeout(run.timer);
        run.controller.abort(new Error(`health check of ${tracked.id} cancelled`));
        this.#inFlight--;
      }
      state.run = undefined;
    }
  }

  #schedule(state: CheckState, delayMs: number): void {
    state.timer = this.options.clock.setTimeout(() => {
      state.timer = undefined;
      if (state.cancelled) return;
      this.#queue.push(state);
      state.queued = true;
      this.#drain();
    }, delayMs);
  }

  #drain(): void {
    while (this.#inFlight < this.options.maxConcurrent && this.#queueHead < this.#queue.length) {
      const state = this.#queue[this.#queueHead++] as CheckState;
      state.queued = false;
      if (!state.cancelled) this.#start(state);
    }
    if (this.#queueHead === this.#queue.length) {
      this.#queue = [];
      this.#queueHead = 0;
    } else if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
  }

  #start(state: CheckState): void {
    const { check } = state;
    const { clock } = this.options;
    const run: Run = { controller: new AbortController(), timer: undefined, settled: false };
    state.run = run;
    this.#inFlight++;
    run.timer = clock.setTimeout(() => {
      run.timer = undefined;
      const output = `timeout after ${check.timeoutMs} ms`;
      run.controller.abort(new Error(output));
      this.#settle(state, run, { status: "critical", output });
    }, check.timeoutMs);
    let pending: Promise<ProbeResult>;
    try {
      pending =
        check.type === "http"
          ? this.#probe.http(check.url, check.timeoutMs, run.controller.signal)
          : this.#probe.tcp(state.address, state.port, check.timeoutMs, run.controller.signal);
    } catch (error) {
      pending = Promise.reject(error);
    }
    Promise.resolve(pending).then(
      (result) => this.#settle(state, run, validResult(result)),
      (error: unknown) => this.#settle(state, run, { status: "critical", output: describeProbeError(error) }),
    );
  }

  #settle(state: CheckState, run: Run, result: ProbeResult): void {
    if (run.settled) return;
    run.settled = true;
    if (run.timer !== undefined) this.options.clock.clearTimeout(run.timer);
    state.run = undefined;
    this.#inFlight--;
    if (!state.cancelled) {
      const { intervalMs } = state.check;
      const { jitter } = this.options;
      this.#schedule(state, intervalMs * (1 + jitter * (2 * this.#random() - 1)));
      this.#notify("onRun", () => this.options.onRun?.(state.check.type, result));
      this.#apply(state, result);
    }
    this.#drain();
  }

  /** Consul's StatusHandler: a status is taken only after enough consecutive runs agree. */
  #apply(state: CheckState, result: ProbeResult): void {
    let take: boolean;
    if (result.status === "passing") {
      state.successes++;
      state.failures = 0;
      take = state.successes >= this.options.successBeforePassing;
    } else {
      state.failures++;
      state.successes = 0;
      take = state.failures >= this.options.failuresBeforeCritical;
    }
    if (!take) return;
    const output = result.status === "passing" ? undefined : result.output;
    const changed = state.status !== result.status;
    const first = !state.reported;
    state.reported = true;
    if (!changed && !first && state.output === output) return;
    if (changed) {
      state.status = result.status;
      state.since = this.options.wallClock();
    }
    const tracked = state.tracked;
    if (changed || state.output !== output) {
      state.output = output;
      tracked.snapshot = snapshotOf(tracked);
    }
    if (changed || first) this.#notify("onChange", () => this.options.onChange(tracked.id, tracked.snapshot));
  }

  #notify(callback: string, call: () => void): void {
    try {
      call();
    } catch (error) {
      this.options.logger?.error({ err: error }, `health checker: ${callback} threw`);
    }
  }

  #random(): number {
    const r = this.options.random();
    return r >= 0 && r < 1 ? r : 0.5;
  }
}

/** Creates a {@link HealthChecker}. */
export function healthChecker(options: HealthCheckerOptions): HealthChecker {
  return new HealthChecker(options);
}

function snapshotOf(tracked: Tracked): readonly CheckStatus[] {
  return Object.freeze(
    tracked.states.map((s) =>
      Object.freeze({
        name: s.check.name,
        type: s.check.type,
        kind: s.check.kind,
        status: s.status,
        ...(s.output === undefined ? {} : { output: s.output }),
        since: s.since,
      }),
    ),
  );
}

const statuses: ReadonlySet<unknown> = new Set(["passing", "warning", "critical"]);

function isStatus(value: unknown): value is HealthStatus {
  return statuses.has(value);
}

function validResult(result: ProbeResult): ProbeResult {
  if (result === null || typeof result !== "object" || !statuses.has(result.status)) {
    return { status: "critical", output: `probe returned an invalid result: ${String(result)}` };
  }
  if (result.status !== "passing" && result.output === undefined) {
    return { status: result.status, output: result.status };
  }
  return result;
}
