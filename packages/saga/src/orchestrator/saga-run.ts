import type { Backoff, Clock } from "@flotilla/resilience";
import type { Context, Span } from "@opentelemetry/api";
import type pg from "pg";
import { jsonResult } from "../definition/json-result.js";
import type { ResolvedStep, SagaDefinition, SagaNode } from "../definition/saga-definition.js";
import { SagaError, SagaErrorCode } from "../saga-error.js";
import type { SagaLogger } from "../saga-logger.js";
import { SagaState } from "../saga-state.js";
import { type StepKind, sagaStepKey } from "../saga-step-key.js";
import type { SagaRow, StepRecord } from "../store/saga-row.js";
import type { SagaStore } from "../store/saga-store.js";
import { isDefinitiveFailure } from "./definitive-failure.js";
import type { SagaMetrics } from "./saga-metrics.js";
import { endSagaSpan, inStepSpan, resumeSagaSpan, runContext } from "./saga-tracing.js";

/** What a {@link SagaRun} needs from its orchestrator. */
export interface SagaRunDeps {
  readonly pool: pg.Pool;
  readonly store: SagaStore;
  readonly owner: string;
  readonly leaseTtlMs: number;
  readonly clock: Clock;
  readonly logger: SagaLogger;
  readonly metrics: SagaMetrics;
  readonly compensationMaxAttempts: number;
  readonly compensationBackoff: Backoff;
  /** Longest wait between rounds of retries of a step after the pivot. */
  readonly maxRetryDelayMs: number;
}

type Outcome =
  | { readonly ok: true; readonly result: unknown; readonly records: StepRecord[] }
  | {
      readonly ok: false;
      readonly error: unknown;
      readonly attempts: number;
      readonly records: StepRecord[];
      readonly partial?: Record<string, unknown>;
      /** Full names of the failed steps with `compensate` whose outcome is uncertain. */
      readonly uncertain?: readonly string[];
    };

/** Thrown inside a run when it must stop without writing (lease lost, aborted, shutdown). */
class Stopped extends Error {}

/**
 * Executes one leased saga instance from its stored row: forward from `position`, or compensation
 * of the completed steps in reverse, committing each step's result (and its log entries) in one
 * statement guarded by `row_version` and the lease. Stops, without acting further, the moment a
 * write matches no row or its signal is aborted.
 */
export class SagaRun {
  readonly id: string;
  readonly #definition: SagaDefinition;
  readonly #deps: SagaRunDeps;
  readonly #controller = new AbortController();
  readonly #logger: SagaLogger;
  readonly #span: Span;
  readonly #trace: Context;
  readonly #deadlineAt: number | undefined;
  #row: SagaRow;

  /**
   * `span` is the saga's root span when this process started the saga; without it the run gets a
   * span of its own under the stored trace context. Either ends when {@link SagaRun.run} returns.
   */
  constructor(row: SagaRow, definition: SagaDefinition, deps: SagaRunDeps, span?: Span) {
    this.id = row.id;
    this.#row = row;
    this.#definition = definition;
    this.#deps = deps;
    this.#logger = deps.logger.child?.({ sagaId: row.id, sagaType: row.type }) ?? deps.logger;
    this.#span = span ?? resumeSagaSpan(row.type, row.id, row.traceparent);
    this.#trace = runContext(this.#span);
    this.#deadlineAt = row.deadlineInMs === null ? undefined : deps.clock.now() + row.deadlineInMs;
  }

  /** The run's signal: aborted on lease loss and shutdown. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Stops the run: the current attempt's signal is aborted and nothing more is written. */
  abort(reason: string): void {
    if (!this.#controller.signal.aborted) {
      this.#controller.abort(new SagaError(SagaErrorCode.LeaseLost, reason, { sagaId: this.id }));
    }
  }

  /** Runs until the saga is terminal or FAILED_COMPENSATION, or the run is stopped. Never rejects. */
  async run(): Promise<SagaRow> {
    try {
      while (!this.#controller.signal.aborted) {
        if (this.#row.state === SagaState.Running) await this.#forward();
        else if (this.#row.state === SagaState.Compensating) await this.#compensateNext();
        else break;
      }
    } catch (error) {
      if (error instanceof Stopped) {
        this.#logger.info({ reason: error.message }, "saga run stopped");
      } else {
        this.#logger.error({ err: error }, "saga run failed; its lease will expire and it will be resumed");
      }
    } finally {
      endSagaSpan(this.#span, this.#row.state, this.#row.error);
    }
    return this.#row;
  }

  async #forward(): Promise<void> {
    const nodes = this.#definition.nodes;
    let position = this.#row.position;
    while (nodes[position]?.kind === "notify") {
      await this.#notify(nodes[position] as Extract<SagaNode, { kind: "notify" }>);
      position++;
    }
    const node = nodes[position];
    if (node === undefined) {
      await this.#commit({ state: SagaState.Completed, position, steps: [] });
      return;
    }
    const pastPivot = this.#definition.pivotIndex >= 0 && position > this.#definition.pivotIndex;
    if (!pastPivot && this.#deadlinePassed()) {
      const error = new SagaError(SagaErrorCode.DeadlineExceeded, "saga deadline passed", {
        sagaId: this.id,
      });
      await this.#beginCompensation(position, this.#row.data, error, [], []);
      return;
    }
    const outcome =
      node.kind === "step"
        ? await this.#invokeStep(node.step, !pastPivot)
        : await this.#invokeParallel(node as Extract<SagaNode, { kind: "parallel" }>, !pastPivot);
    if (outcome.ok) {
      const data = { ...this.#row.data, [node.name]: outcome.result };
      const next = position + 1;
      const done = nodes.slice(next).every((n) => n.kind === "notify");
      await this.#commit({
        state: done ? SagaState.Completed : SagaState.Running,
        position: done ? nodes.length : next,
        data,
        steps: outcome.records,
      });
      if (done)
        for (const n of nodes.slice(next)) await this.#notify(n as Extract<SagaNode, { kind: "notify" }>);
      return;
    }
    if (pastPivot) {
      const attempts = this.#row.attempts + outcome.attempts;
      this.#logger.warn(
        { err: outcome.error, step: node.name, attempts },
        "step after the pivot failed; retrying",
      );
      await this.#commit({
        state: SagaState.Running,
        position,
        error: describe(outcome.error),
        attempts,
        steps: outcome.records,
      });
      await this.#sleep(Math.min(this.#deps.maxRetryDelayMs, 100 * 2 ** Math.min(attempts, 16)));
      return;
    }
    const data =
      outcome.partial === undefined ? this.#row.data : { ...this.#row.data, [node.name]: outcome.partial };
    const uncertain = outcome.uncertain ?? [];
    await this.#beginCompensation(
      outcome.partial === undefined && uncertain.length === 0 ? position : position + 1,
      data,
      outcome.error,
      outcome.records,
      uncertain,
    );
  }

  async #beginCompensation(
    position: number,
    data: Record<string, unknown>,
    error: unknown,
    steps: StepRecord[],
    uncertain: readonly string[],
  ): Promise<void> {
    this.#logger.warn({ err: error, position, uncertain }, "saga compensating");
    const pending = this.#nextToCompensate(position, data, uncertain) >= 0;
    await this.#commit({
      state: pending ? SagaState.Compensating : SagaState.Compensated,
      position,
      data,
      error: describe(error),
      attempts: 0,
      steps,
      uncertainSteps: pending ? uncertain : [],
    });
  }

  /**
   * Index of the highest node below `below` with something to compensate — a stored result, or an
   * uncertain outcome — or -1.
   */
  #nextToCompensate(below: number, data: Record<string, unknown>, uncertain: readonly string[]): number {
    for (let i = Math.min(below, this.#definition.nodes.length) - 1; i >= 0; i--) {
      const node = this.#definition.nodes[i] as SagaNode;
      if (node.kind === "step" && needsCompensation(node.step, node.name in data, uncertain)) return i;
      if (node.kind === "parallel") {
        const results = (data[node.name] ?? {}) as Record<string, unknown>;
        if (node.branches.some((b) => needsCompensation(b, branchName(node.name, b) in results, uncertain)))
          return i;
      }
    }
    return -1;
  }

  async #compensateNext(): Promise<void> {
    const data = this.#row.data;
    let uncertain = this.#row.uncertainSteps;
    const index = this.#nextToCompensate(this.#row.position, data, uncertain);
    if (index < 0) {
      await this.#commit({ state: SagaState.Compensated, position: 0, steps: [], uncertainSteps: [] });
      return;
    }
    const node = this.#definition.nodes[index] as SagaNode;
    const records: StepRecord[] = [];
    let remaining: Record<string, unknown> | undefined;
    let failure: { error: unknown; attempts: number } | undefined;
    if (node.kind === "step") {
      // An uncertain step has no stored result: its compensation gets `ctx.result` undefined.
      const outcome = await this.#compensateStep(node.step, data[node.name]);
      records.push(...outcome.records);
      if (outcome.ok) uncertain = uncertain.filter((name) => name !== node.step.name);
      else failure = { error: outcome.error, attempts: outcome.attempts };
    } else if (node.kind === "parallel") {
      const results = { ...((data[node.name] ?? {}) as Record<string, unknown>) };
      const branches = node.branches.filter((b) =>
        needsCompensation(b, branchName(node.name, b) in results, uncertain),
      );
      const outcomes = await Promise.all(
        branches.map((b) => this.#compensateStep(b, results[branchName(node.name, b)])),
      );
      outcomes.forEach((outcome, i) => {
        records.push(...outcome.records);
        const branch = branches[i] as ResolvedStep;
        if (outcome.ok) {
          delete results[branchName(node.name, branch)];
          uncertain = uncertain.filter((name) => name !== branch.name);
        } else failure ??= { error: outcome.error, attempts: outcome.attempts };
      });
      remaining = results;
    }
    if (failure !== undefined) {
      this.#logger.error(
        { err: failure.error, step: node.name, attempts: failure.attempts },
        "compensation keeps failing; saga needs an operator",
      );
      await this.#commit({
        state: SagaState.FailedCompensation,
        position: index + 1,
        data: remaining === undefined ? data : { ...data, [node.name]: remaining },
        error: describe(failure.error),
        attempts: failure.attempts,
        steps: records,
        uncertainSteps: uncertain,
      });
      return;
    }
    const { [node.name]: _done, ...rest } = data;
    const more = this.#nextToCompensate(index, rest, uncertain) >= 0;
    await this.#commit({
      state: more ? SagaState.Compensating : SagaState.Compensated,
      position: index,
      data: rest,
      attempts: 0,
      steps: records,
      uncertainSteps: more ? uncertain : [],
    });
  }

  async #invokeStep(step: ResolvedStep, beforePivot: boolean): Promise<Outcome> {
    const outcome = await this.#attempts(
      step,
      "invoke",
      step.maxAttempts,
      step.backoff,
      undefined,
      beforePivot,
    );
    return outcome.ok ? outcome : { ...outcome, uncertain: uncertainOf(step, outcome.error) };
  }

  async #invokeParallel(
    node: Extract<SagaNode, { kind: "parallel" }>,
    beforePivot: boolean,
  ): Promise<Outcome> {
    const outcomes = await Promise.all(
      node.branches.map((b) => this.#attempts(b, "invoke", b.maxAttempts, b.backoff, undefined, beforePivot)),
    );
    const result: Record<string, unknown> = {};
    const records: StepRecord[] = [];
    const uncertain: string[] = [];
    let failed: Extract<Outcome, { ok: false }> | undefined;
    outcomes.forEach((outcome, i) => {
      records.push(...outcome.records);
      const branch = node.branches[i] as ResolvedStep;
      if (outcome.ok) result[branchName(node.name, branch)] = outcome.result;
      else {
        failed ??= outcome;
        uncertain.push(...uncertainOf(branch, outcome.error));
      }
    });
    if (failed === undefined) return { ok: true, result, records };
    return { ok: false, error: failed.error, attempts: failed.attempts, records, partial: result, uncertain };
  }

  #compensateStep(step: ResolvedStep, result: unknown): Promise<Outcome> {
    return this.#attempts(
      step,
      "compensate",
      this.#deps.compensationMaxAttempts,
      this.#deps.compensationBackoff,
      result,
      false,
    );
  }

  /** Runs up to `maxAttempts` attempts with backoff; definitive failures and the deadline end it early. */
  async #attempts(
    step: ResolvedStep,
    kind: StepKind,
    maxAttempts: number,
    backoff: Backoff,
    result: unknown,
    deadlineApplies: boolean,
  ): Promise<Outcome> {
    const startedAt = new Date();
    let delay = 0;
    let lastError: unknown;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      try {
        const value = await this.#attempt(step, kind, attempt, result, deadlineApplies);
        const record: StepRecord = {
          step: step.name,
          kind,
          status: "succeeded",
          attempt,
          startedAt,
          endedAt: new Date(),
          error: null,
          result: kind === "invoke" ? value : null,
        };
        return { ok: true, result: value, records: [record] };
      } catch (error) {
        if (this.#controller.signal.aborted) throw new Stopped(describe(this.#controller.signal.reason));
        lastError = error;
        this.#logger.warn({ err: error, step: step.name, kind, attempt }, "saga step attempt failed");
        const permanent =
          isDefinitiveFailure(error) ||
          (error instanceof SagaError && error.code === SagaErrorCode.DeadlineExceeded);
        if (permanent || attempt === maxAttempts) {
          const record: StepRecord = {
            step: step.name,
            kind,
            status: "failed",
            attempt,
            startedAt,
            endedAt: new Date(),
            error: describe(error),
            result: null,
          };
          return { ok: false, error, attempts: attempt, records: [record] };
        }
        delay = backoff(attempt, error, delay);
        await this.#sleep(delay);
      }
    }
    return { ok: false, error: lastError, attempts: maxAttempts, records: [] };
  }

  async #attempt(
    step: ResolvedStep,
    kind: StepKind,
    attempt: number,
    result: unknown,
    deadlineApplies: boolean,
  ): Promise<unknown> {
    const { clock, metrics } = this.#deps;
    const controller = new AbortController();
    const runSignal = this.#controller.signal;
    let rejectAbort: (error: unknown) => void = () => {};
    const aborted = new Promise<never>((_, reject) => {
      rejectAbort = reject;
    });
    const onRunAbort = () => {
      controller.abort(runSignal.reason);
      rejectAbort(runSignal.reason);
    };
    if (runSignal.aborted) onRunAbort();
    else runSignal.addEventListener("abort", onRunAbort, { once: true });
    const timers: unknown[] = [];
    const fail = (error: SagaError, ms: number) => {
      timers.push(
        clock.setTimeout(
          () => {
            controller.abort(error);
            rejectAbort(error);
          },
          Math.max(0, ms),
        ),
      );
    };
    if (step.timeoutMs !== undefined) {
      fail(
        new SagaError(
          SagaErrorCode.StepTimeout,
          `step "${step.name}" (${kind}) timed out after ${step.timeoutMs} ms`,
          { sagaId: this.id, step: step.name },
        ),
        step.timeoutMs,
      );
    }
    if (deadlineApplies && this.#deadlineAt !== undefined) {
      fail(
        new SagaError(SagaErrorCode.DeadlineExceeded, "saga deadline passed", {
          sagaId: this.id,
          step: step.name,
        }),
        this.#deadlineAt - clock.now(),
      );
    }
    aborted.catch(() => {});
    const ctx = {
      input: this.#row.input,
      data: this.#row.data,
      sagaId: this.id,
      sagaType: this.#row.type,
      step: step.name,
      idempotencyKey: sagaStepKey(this.id, step.name, kind),
      attempt,
      signal: controller.signal,
      logger: this.#logger.child?.({ step: step.name, kind, attempt }) ?? this.#logger,
      ...(kind === "compensate" ? { result } : {}),
    };
    const started = clock.now();
    try {
      return await inStepSpan(
        this.#trace,
        `saga ${this.#row.type} ${step.name} ${kind}`,
        {
          "flotilla.saga.id": this.id,
          "flotilla.saga.step": step.name,
          "flotilla.saga.step.kind": kind,
          "flotilla.saga.attempt": attempt,
        },
        async () => {
          const fn =
            kind === "invoke" ? step.invoke : (step.compensate as NonNullable<ResolvedStep["compensate"]>);
          const value = await Promise.race([Promise.resolve().then(() => fn(ctx as never)), aborted]);
          return kind === "invoke" ? jsonResult(value, step.result, step.name) : undefined;
        },
      );
    } finally {
      for (const timer of timers) clock.clearTimeout(timer as never);
      runSignal.removeEventListener("abort", onRunAbort);
      metrics.step(this.#row.type, step.name, kind, (clock.now() - started) / 1000);
    }
  }

  async #notify(node: Extract<SagaNode, { kind: "notify" }>): Promise<void> {
    try {
      await node.notify({
        input: this.#row.input,
        data: this.#row.data,
        sagaId: this.id,
        sagaType: this.#row.type,
        step: node.name,
        idempotencyKey: sagaStepKey(this.id, node.name, "invoke"),
        attempt: 1,
        signal: this.#controller.signal,
        logger: this.#logger,
      });
    } catch (error) {
      this.#deps.metrics.notifyFailed(this.#row.type, node.name);
      this.#logger.warn({ err: error, step: node.name }, "saga notification failed (ignored)");
    }
  }

  async #commit(change: {
    state: SagaState;
    position: number;
    data?: Record<string, unknown>;
    error?: string | null;
    attempts?: number;
    steps: StepRecord[];
    uncertainSteps?: readonly string[];
  }): Promise<void> {
    const row = this.#row;
    let updated: SagaRow | undefined;
    try {
      updated = await this.#deps.store.update(this.#deps.pool, {
        previous: row,
        owner: this.#deps.owner,
        state: change.state,
        position: change.position,
        data: change.data ?? row.data,
        error: change.error === undefined ? row.error : change.error,
        attempts: change.attempts ?? row.attempts,
        leaseTtlMs: this.#deps.leaseTtlMs,
        steps: change.steps,
        uncertainSteps: change.uncertainSteps ?? row.uncertainSteps,
      });
    } catch (error) {
      // An unknown outcome: the commit may or may not have happened, so only the log can tell.
      this.abort("saga write failed");
      throw new Stopped(`write failed: ${describe(error)}`);
    }
    if (updated === undefined) {
      this.abort("saga changed hands");
      throw new Stopped("lost the saga (row_version or lease changed)");
    }
    this.#row = updated;
    if (updated.state !== SagaState.Running && updated.state !== SagaState.Compensating) {
      const seconds = (updated.updatedAt.getTime() - updated.createdAt.getTime()) / 1000;
      if (row.firstEnd === null) this.#deps.metrics.ended(updated.type, updated.state, seconds);
      else this.#deps.metrics.endChanged(updated.type, row.firstEnd, updated.state);
      this.#logger.info({ state: updated.state }, "saga ended");
    }
  }

  #deadlinePassed(): boolean {
    return this.#deadlineAt !== undefined && this.#deps.clock.now() >= this.#deadlineAt;
  }

  #sleep(ms: number): Promise<void> {
    const signal = this.#controller.signal;
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new Stopped(describe(signal.reason)));
        return;
      }
      const onAbort = () => {
        this.#deps.clock.clearTimeout(timer);
        reject(new Stopped(describe(signal.reason)));
      };
      const timer = this.#deps.clock.setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/** `[step.name]` when the step has a compensation and `error` leaves its outcome uncertain. */
function uncertainOf(step: ResolvedStep, error: unknown): string[] {
  return step.compensate !== undefined && !isDefinitiveFailure(error) ? [step.name] : [];
}

function needsCompensation(step: ResolvedStep, hasResult: boolean, uncertain: readonly string[]): boolean {
  return step.compensate !== undefined && (hasResult || uncertain.includes(step.name));
}

function branchName(group: string, branch: ResolvedStep): string {
  return branch.name.slice(group.length + 1);
}

function describe(error: unknown): string {
  if (error instanceof Error)
    return "code" in error && typeof error.code === "string"
      ? `${error.code}: ${error.message}`
      : error.message;
  return String(error);
}
