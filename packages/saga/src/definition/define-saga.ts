import { ConfigReader, type Duration, fullJitterBackoff, parseDuration } from "@flotilla/resilience";
import type { ZodType } from "zod";
import { SagaError, SagaErrorCode } from "../saga-error.js";
import type { ResolvedStep, SagaDefinition, SagaNode } from "./saga-definition.js";
import type { NotifyFn, StepOptions, StepResult } from "./step-options.js";

/** Options of {@link defineSaga}. */
export interface DefineSagaOptions<Input> {
  /** The saga type stored with each instance (letters, digits, `._-`), e.g. `"order.place"`. */
  readonly type: string;
  /** Validates the input of `startSaga` before anything is written. */
  readonly input: ZodType<Input>;
  /** The whole saga must finish its steps up to the pivot within this; past it, it compensates. Default none. */
  readonly deadline?: Duration;
  /** Stored with each instance, for migrations of long-running sagas. Default 1. */
  readonly version?: number;
}

const namePattern = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const typePattern = /^[A-Za-z][A-Za-z0-9._-]{0,127}$/;
const stepKeys = ["invoke", "compensate", "result", "retry", "timeout"];
const defaultBackoff = fullJitterBackoff({ initialDelay: "100ms", maxDelay: "5s" });

type Branches<Input, Data> = Record<string, StepOptions<Input, Data, unknown>>;

/**
 * Accumulates the steps of a saga; each method returns a builder whose `Data` type includes the
 * new step's result under its name, so later steps see `ctx.data.payment` typed.
 */
export class SagaBuilder<Input, Data extends object = object> {
  readonly #options: DefineSagaOptions<Input>;
  readonly #nodes: SagaNode[];

  /** Use {@link defineSaga}. */
  constructor(options: DefineSagaOptions<Input>, nodes: SagaNode[] = []) {
    this.#options = options;
    this.#nodes = nodes;
  }

  /** Adds a step that is compensated (if it has `compensate`) when a later step before the pivot fails. */
  step<const Name extends string, Result>(
    name: Name,
    options: StepOptions<Input, Data, Result>,
  ): SagaBuilder<Input, Data & { readonly [K in Name]: Result }> {
    return this.#add({ kind: "step", name, pivot: false, step: resolveStep(name, name, options) });
  }

  /**
   * Adds the pivot: the point of no return. A failure before or at it compensates the completed
   * steps; steps after it are retried until they succeed and are never compensated. At most one,
   * without `compensate` (a pivot is never compensated; `build()` refuses one that has it).
   */
  pivot<const Name extends string, Result>(
    name: Name,
    options: StepOptions<Input, Data, Result>,
  ): SagaBuilder<Input, Data & { readonly [K in Name]: Result }> {
    if (this.#nodes.some((node) => node.kind === "step" && node.pivot)) {
      throw definitionError(
        `saga "${this.#options.type}" has a second pivot "${name}"; at most one is allowed`,
      );
    }
    return this.#add({ kind: "step", name, pivot: true, step: resolveStep(name, name, options) });
  }

  /**
   * Adds a fork/join group: every branch runs at once; the result is `{ branch: result, ... }`. If a
   * branch fails, the branches that succeeded and the earlier steps are compensated.
   */
  parallel<const Name extends string, const B extends Branches<Input, Data>>(
    name: Name,
    branches: B,
  ): SagaBuilder<Input, Data & { readonly [K in Name]: { readonly [P in keyof B]: StepResult<B[P]> } }> {
    const entries = Object.entries(branches ?? {});
    if (entries.length === 0) throw definitionError(`parallel group "${name}" needs at least one branch`);
    const resolved = entries.map(([branch, options]) => {
      if (!namePattern.test(branch)) throw definitionError(`branch "${name}.${branch}": ${nameRule}`);
      return resolveStep(
        `${name}.${branch}`,
        `${name}.${branch}`,
        options as StepOptions<Input, Data, unknown>,
      );
    });
    return this.#add({ kind: "parallel", name, branches: resolved });
  }

  /** Adds a one-way notification: its failure is logged and counted and never fails the saga. */
  notify<const Name extends string>(name: Name, fn: NotifyFn<Input, Data>): SagaBuilder<Input, Data> {
    if (typeof fn !== "function") throw definitionError(`notify "${name}": expected a function`);
    return this.#add({ kind: "notify", name, notify: fn as NotifyFn<unknown, unknown> });
  }

  /**
   * Returns the finished definition. Throws `FLT_SAGA_DEFINITION_INVALID` when it has no steps, or
   * its pivot has a `compensate` (which would never run).
   */
  build(): SagaDefinition<Input, Data> {
    if (!this.#nodes.some((node) => node.kind !== "notify")) {
      throw definitionError(`saga "${this.#options.type}" has no steps`);
    }
    const pivot = this.#nodes.find((node) => node.kind === "step" && node.pivot);
    if (pivot?.kind === "step" && pivot.step.compensate !== undefined) {
      throw new SagaError(
        SagaErrorCode.DefinitionInvalid,
        `saga "${this.#options.type}": pivot "${pivot.name}" has a compensate; a pivot is the point of no return and is never compensated (make it a .step, or drop compensate)`,
        { sagaType: this.#options.type, step: pivot.name },
      );
    }
    const reader = new ConfigReader();
    const raw = this.#options as unknown as Record<string, unknown>;
    const deadlineMs = reader.optionalDuration(raw, "deadline", "", { above: 0 });
    const version = reader.number(raw, "version", "", 1, { integer: true, min: 1 });
    if (reader.issues.length > 0) {
      throw new SagaError(
        SagaErrorCode.DefinitionInvalid,
        `saga "${this.#options.type}": ${reader.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
        { sagaType: this.#options.type, issues: reader.issues },
      );
    }
    return Object.freeze({
      type: this.#options.type,
      version,
      input: this.#options.input,
      deadlineMs,
      nodes: Object.freeze([...this.#nodes]),
      pivotIndex: this.#nodes.findIndex((node) => node.kind === "step" && node.pivot),
    });
  }

  #add<D extends object>(node: SagaNode): SagaBuilder<Input, D> {
    if (!namePattern.test(node.name)) throw definitionError(`step "${node.name}": ${nameRule}`);
    if (this.#nodes.some((existing) => existing.name === node.name)) {
      throw definitionError(`saga "${this.#options.type}" already has a step "${node.name}"`);
    }
    return new SagaBuilder<Input, D>(this.#options, [...this.#nodes, node]);
  }
}

const nameRule = "a name is a letter then up to 62 letters, digits, _ or -";

/**
 * Starts a saga definition. Steps run in the order they are added; each one's result joins the
 * typed `ctx.data` of the later steps.
 *
 * @example
 * ```ts
 * const orderSaga = defineSaga({ type: "order.place", input: z.object({ orderId: z.string(), amount: z.number() }) })
 *   .step("payment", {
 *     invoke: (ctx) => payments.charge(ctx.input.amount, { idempotencyKey: ctx.idempotencyKey }),
 *     compensate: (ctx) => payments.refund(ctx.result.chargeId, { idempotencyKey: ctx.idempotencyKey }),
 *   })
 *   .step("inventory", { invoke: (ctx) => stock.reserve(ctx.input.orderId), compensate: (ctx) => stock.release(ctx.result.id) })
 *   .pivot("shipping", { invoke: (ctx) => shipping.schedule(ctx.input.orderId) })
 *   .build();
 * ```
 */
export function defineSaga<Input>(options: DefineSagaOptions<Input>): SagaBuilder<Input> {
  const reader = new ConfigReader();
  const raw = reader.object(options, "");
  reader.knownKeys(raw, ["type", "input", "deadline", "version"], "");
  if (typeof raw.type !== "string" || !typePattern.test(raw.type)) {
    reader.issue("type", "expected a saga type: a letter then up to 127 letters, digits, '.', '_' or '-'");
  }
  const input = raw.input as { safeParse?: unknown } | undefined;
  if (typeof input !== "object" || input === null || typeof input.safeParse !== "function") {
    reader.issue("input", "expected a zod schema");
  }
  if (reader.issues.length > 0) {
    throw new SagaError(
      SagaErrorCode.DefinitionInvalid,
      `invalid saga definition: ${reader.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
      { issues: reader.issues },
    );
  }
  return new SagaBuilder<Input>(options);
}

function resolveStep<Input, Data, Result>(
  name: string,
  path: string,
  options: StepOptions<Input, Data, Result>,
): ResolvedStep {
  const reader = new ConfigReader();
  const raw = reader.object(options, path);
  reader.knownKeys(raw, stepKeys, path);
  if (typeof raw.invoke !== "function") reader.issue(`${path}.invoke`, "expected a function");
  reader.fn(raw, "compensate", path);
  const retry = reader.object(raw.retry, `${path}.retry`);
  reader.knownKeys(retry, ["maxAttempts", "backoff"], `${path}.retry`);
  const maxAttempts = reader.number(retry, "maxAttempts", `${path}.retry`, 3, { integer: true, min: 1 });
  const backoff = reader.fn<typeof defaultBackoff>(retry, "backoff", `${path}.retry`) ?? defaultBackoff;
  const timeoutMs = reader.optionalDuration(raw, "timeout", path, { above: 0 });
  const result = raw.result as { safeParse?: unknown } | undefined;
  if (result !== undefined && (typeof result !== "object" || typeof result?.safeParse !== "function")) {
    reader.issue(`${path}.result`, "expected a zod schema");
  }
  if (reader.issues.length > 0) {
    throw new SagaError(
      SagaErrorCode.DefinitionInvalid,
      `invalid step: ${reader.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
      { step: name, issues: reader.issues },
    );
  }
  return {
    name,
    invoke: options.invoke as ResolvedStep["invoke"],
    compensate: options.compensate as ResolvedStep["compensate"],
    result: options.result,
    maxAttempts,
    backoff,
    timeoutMs: timeoutMs === undefined ? undefined : parseDuration(timeoutMs),
  };
}

function definitionError(message: string): SagaError {
  return new SagaError(SagaErrorCode.DefinitionInvalid, message);
}
