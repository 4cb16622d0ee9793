import type { Logger } from "@flotilla/observability";
import type { Clock, TimerHandle } from "@flotilla/resilience";
import { type HealthChecker, healthChecker } from "../health/health-checker.js";
import type { HealthCheckerOptions } from "../health/health-checker-options.js";
import type { CheckStatus } from "../registration.js";
import { aggregateStatus, isLeaseExpired, mergeCheckResults, sameChecks } from "./instance-status.js";
import type { InstanceWriter } from "./instance-writer.js";
import type { RegistryView } from "./registry-view.js";
import type { ViewInstance } from "./store-layout.js";

/** Health-checker settings the server passes through (everything but its callbacks). */
export type InstanceHealthCheckerOptions = Omit<
  HealthCheckerOptions,
  "onChange" | "onRun" | "clock" | "logger"
>;

/** What {@link InstanceHealth} needs. */
export interface InstanceHealthOptions {
  readonly clock: Clock;
  readonly wallClock: () => number;
  readonly view: RegistryView;
  readonly writer: InstanceWriter;
  readonly logger: Logger;
  readonly checker: InstanceHealthCheckerOptions;
  /** Counts each completed check run. */
  readonly onRun: (type: "http" | "tcp", result: string) => void;
  /** Deregisters an instance whose liveness check stayed critical for its `deregisterCriticalAfterMs`. */
  readonly deregister: (service: string, id: string, lease: string) => Promise<unknown>;
}

/**
 * Runs the http and tcp checks of every instance in the view (so any registry server, and this
 * one after a restart, checks what the store holds) and writes their results into the records:
 * the aggregate status is the worst of the checks, written only when it or a check's status
 * changed, or when a check's first result differs from what the record says. Each check starts
 * from the status its record holds, so a server that starts (or restarts, or joins others on
 * etcd) writes nothing until a check actually changes, and a re-registration keeps the status of
 * the checks it did not change. A `liveness` check that has been critical for its
 * `deregisterCriticalAfterMs` — counted from its `since`, so also from registration when it never
 * passed — deregisters the instance once a run confirms it; recovering before then cancels that.
 */
export class InstanceHealth {
  readonly #o: InstanceHealthOptions;
  readonly #checker: HealthChecker;
  /** Instance id → the lease its tracking belongs to. */
  readonly #tracked = new Map<string, string>();
  /** `<id> <check name>` → pending deregistration. */
  readonly #deadlines = new Map<string, TimerHandle>();
  #closed = false;

  constructor(options: InstanceHealthOptions) {
    this.#o = options;
    this.#checker = healthChecker({
      ...options.checker,
      clock: options.clock,
      wallClock: options.wallClock,
      logger: options.logger,
      onChange: (id, checks) => this.#onChange(id, checks),
      onRun: (type, result) => options.onRun(type, result.status),
    });
  }

  /** Instances whose checks run here. */
  get tracked(): number {
    return this.#tracked.size;
  }

  /** Follows the view: starts, restarts or stops checking an instance as its record changes. */
  instanceChanged(current: ViewInstance | undefined, previous: ViewInstance | undefined): void {
    if (this.#closed) return;
    if (current === undefined) {
      if (previous !== undefined && this.#tracked.get(previous.record.id) === previous.record.lease) {
        this.#stop(previous.record.id);
      }
      return;
    }
    const { id, lease, address, port, checks } = current.record;
    if (isLeaseExpired(checks)) {
      if (this.#tracked.has(id)) this.#stop(id);
      return;
    }
    if (this.#tracked.get(id) === lease) return;
    if (!current.definitions.some((d) => d.type !== "ttl")) {
      if (this.#tracked.has(id)) this.#stop(id);
      return;
    }
    // A re-registration is tracked again without untracking first, so the checker carries over the
    // checks that did not change; the others start from what the record says.
    this.#clearDeadlines(id);
    this.#checker.track({ id, address, port }, current.definitions, checks);
    this.#tracked.set(id, lease);
    const known = this.#checker.statusOf(id);
    if (known !== undefined && !sameChecks(mergeCheckResults(checks, known), checks)) this.#write(current);
  }

  /** Stops every check and timer. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#deadlines.values()) this.#o.clock.clearTimeout(timer);
    this.#deadlines.clear();
    this.#tracked.clear();
    await this.#checker.close();
  }

  #stop(id: string): void {
    this.#tracked.delete(id);
    this.#checker.untrack(id);
    this.#clearDeadlines(id);
  }

  #clearDeadlines(id: string): void {
    for (const [key, timer] of this.#deadlines) {
      if (key.startsWith(`${id} `)) {
        this.#o.clock.clearTimeout(timer);
        this.#deadlines.delete(key);
      }
    }
  }

  #onChange(id: string, checks: readonly CheckStatus[]): void {
    const instance = this.#o.view.instanceById(id);
    if (this.#closed || instance === undefined || this.#tracked.get(id) !== instance.record.lease) return;
    this.#write(instance);
    this.#deadlinesFor(instance, checks);
  }

  #write(instance: ViewInstance): void {
    const { service, id, lease } = instance.record;
    this.#o.writer
      .update(service, id, (current) => {
        const { record } = current;
        const known = this.#checker.statusOf(id);
        if (record.lease !== lease || known === undefined || isLeaseExpired(record.checks)) return undefined;
        const checks = mergeCheckResults(record.checks, known);
        const status = aggregateStatus(checks);
        if (status === record.status && sameChecks(checks, record.checks)) return undefined;
        const { modifyIndex: _, ...rest } = record;
        return { ...rest, checks, status };
      })
      .catch((error: unknown) => {
        this.#o.logger.warn({ err: error, service, id }, "could not write an instance's check results");
      });
  }

  #deadlinesFor(instance: ViewInstance, checks: readonly CheckStatus[]): void {
    const { service, id, lease } = instance.record;
    for (const check of checks) {
      if (check.kind !== "liveness") continue;
      const key = `${id} ${check.name}`;
      const pending = this.#deadlines.get(key);
      if (check.status !== "critical") {
        if (pending !== undefined) {
          this.#o.clock.clearTimeout(pending);
          this.#deadlines.delete(key);
        }
        continue;
      }
      const afterMs = instance.definitions.find((d) => d.name === check.name)?.deregisterCriticalAfterMs;
      if (pending !== undefined || afterMs === undefined) continue;
      const delay = Math.max(0, check.since + afterMs - this.#o.wallClock());
      const timer = this.#o.clock.setTimeout(() => {
        this.#deadlines.delete(key);
        if (this.#tracked.get(id) !== lease) return;
        this.#o.logger.warn(
          { service, id, check: check.name, afterMs },
          `deregistering ${service}/${id}: liveness check "${check.name}" critical for ${afterMs} ms`,
        );
        this.#o.deregister(service, id, lease).catch((error: unknown) => {
          this.#o.logger.warn({ err: error, service, id }, "could not deregister an instance");
        });
      }, delay);
      this.#deadlines.set(key, timer);
    }
  }
}
