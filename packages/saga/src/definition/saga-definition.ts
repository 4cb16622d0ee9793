import type { Backoff } from "@flotilla/resilience";
import type { ZodType } from "zod";
import type { CompensateContext, NotifyFn, StepContext } from "./step-options.js";

/** A step as the orchestrator runs it: options resolved, types erased. */
export interface ResolvedStep {
  /** Name used in the data and the idempotency key (`group.branch` for a parallel branch). */
  readonly name: string;
  readonly invoke: (ctx: StepContext<unknown, unknown>) => unknown;
  readonly compensate: ((ctx: CompensateContext<unknown, unknown, unknown>) => unknown) | undefined;
  readonly result: ZodType | undefined;
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly timeoutMs: number | undefined;
}

/** One position of a saga: a step (possibly the pivot), a parallel group or a notification. */
export type SagaNode =
  | { readonly kind: "step"; readonly name: string; readonly pivot: boolean; readonly step: ResolvedStep }
  | { readonly kind: "parallel"; readonly name: string; readonly branches: readonly ResolvedStep[] }
  | { readonly kind: "notify"; readonly name: string; readonly notify: NotifyFn<unknown, unknown> };

/**
 * A built saga definition (from `defineSaga(...)...build()`): register it with an orchestrator and
 * start instances with `orchestrator.startSaga(definition, input)`.
 */
export interface SagaDefinition<Input = unknown, Data = unknown> {
  /** The saga type stored with every instance, e.g. `"order.place"`. */
  readonly type: string;
  /** Definition version stored with every instance. Default 1. */
  readonly version: number;
  /** Validates the input before anything is written. */
  readonly input: ZodType<Input>;
  /** Saga deadline in milliseconds from its start; past it (before the pivot) the saga compensates. */
  readonly deadlineMs: number | undefined;
  /** The positions, in order. */
  readonly nodes: readonly SagaNode[];
  /** Index of the pivot node, or -1. */
  readonly pivotIndex: number;
  /** Type-level only: the accumulated data type. */
  readonly __data?: Data;
}

/** The input type of a saga definition. */
export type SagaInput<S> = S extends SagaDefinition<infer I, unknown> ? I : never;
/** The final data type of a saga definition. */
export type SagaData<S> = S extends SagaDefinition<unknown, infer D> ? D : never;

/** Any saga definition, whatever its input and data types (for lists of definitions). */
// biome-ignore lint/suspicious/noExplicitAny: definitions of every input type must fit one list
export type AnySagaDefinition = SagaDefinition<any, any>;
