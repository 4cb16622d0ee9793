import type { Backoff, Duration } from "@flotilla/resilience";
import type { ZodType } from "zod";
import type { SagaLogger } from "../saga-logger.js";

/** What a step's `invoke` receives. */
export interface StepContext<Input, Data> {
  /** The saga's validated input. */
  readonly input: Input;
  /** Results of the steps before this one, keyed by step name. */
  readonly data: Data;
  /** The saga instance id (a UUID). */
  readonly sagaId: string;
  /** The saga type. */
  readonly sagaType: string;
  /** This step's name (`group.branch` inside a parallel group). */
  readonly step: string;
  /** `sagaStepKey(sagaId, step, kind)`: pass it to the participant so a repeated call has no second effect. */
  readonly idempotencyKey: string;
  /** 1 for the first attempt in this process; counts up on retries. */
  readonly attempt: number;
  /** Aborted on step timeout, saga deadline, lease loss and orchestrator shutdown. */
  readonly signal: AbortSignal;
  /** Bound to the saga id, type and step. */
  readonly logger: SagaLogger;
}

/** What a step's `compensate` receives: the step context plus the step's own result. */
export interface CompensateContext<Input, Data, Result> extends StepContext<Input, Data> {
  /**
   * What this step's `invoke` returned — or, at run time, `undefined` when the invocation failed
   * with an uncertain outcome (a timeout, the saga deadline, a lost connection) and is compensated
   * in case its effect happened anyway. Look the effect up by the step's key then
   * (`sagaStepKey(sagaId, step, "invoke")`).
   */
  readonly result: Result | undefined;
}

/** Retry policy of one step's invocation (and, after a pivot, of each round of retries). */
export interface StepRetryOptions {
  /** Attempts in all, at least 1. Default 3. */
  readonly maxAttempts?: number;
  /** Wait before attempt n+1. Default `fullJitterBackoff({ initialDelay: "100ms", maxDelay: "5s" })`. */
  readonly backoff?: Backoff;
}

/**
 * One step: `invoke` does the local transaction of a participant and returns a JSON-serialisable
 * result; `compensate` undoes it when a later step (before the pivot) fails — and also when this
 * step itself fails (its retries used up) with an outcome that is uncertain (anything but a
 * definitive refusal: a `PermanentError`, `FLT_SAGA_COMMAND_FAILED`, an invalid result), since its
 * effect may have happened after the orchestrator stopped waiting.
 */
export interface StepOptions<Input, Data, Result> {
  /** Calls the participant; its result is stored in the saga's data under the step name. */
  readonly invoke: (ctx: StepContext<Input, Data>) => Promise<Result> | Result;
  /**
   * Undoes the step; retried with backoff until it succeeds (up to the orchestrator's
   * `compensation.maxAttempts`), with its own key `saga:<id>:<step>:compensate`. It must treat
   * "nothing to undo" as success: it also runs, with `ctx.result` undefined, after an invocation
   * whose outcome is uncertain — the effect may be absent, or may land later (record that the step
   * was compensated so a late invocation with the invoke key is refused).
   */
  readonly compensate?: (ctx: CompensateContext<Input, Data, Result>) => Promise<unknown> | unknown;
  /** Validates the result; a result failing it is a step failure (not retried). */
  readonly result?: ZodType<Result>;
  /** Default `{ maxAttempts: 3 }`. */
  readonly retry?: StepRetryOptions;
  /** Per attempt; the attempt's `signal` is aborted and the attempt fails when it passes. Default none. */
  readonly timeout?: Duration;
}

/** A one-way notification: failures are logged and counted, never fail the saga. */
export type NotifyFn<Input, Data> = (ctx: StepContext<Input, Data>) => Promise<unknown> | unknown;

/** The result type of a step definition. */
export type StepResult<S> = S extends StepOptions<never, never, infer R> ? R : never;
