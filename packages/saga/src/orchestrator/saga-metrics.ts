import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { StepKind } from "../saga-step-key.js";

/**
 * The orchestrator's Prometheus metrics: `flotilla_saga_started_total{type}` (a saga started in a
 * caller's transaction counts when first claimed), `flotilla_saga_ended_total{type,state}` (once per
 * saga, at its first end), `flotilla_saga_end_changed_total{type,from,to}` (a later end after an
 * operator resume or abort), `flotilla_saga_duration_seconds{type,state}`,
 * `flotilla_saga_step_duration_seconds{type,step,kind}`, `flotilla_saga_failed_compensation{type}`
 * (gauge, for alerting), `flotilla_saga_notify_failed_total{type,step}` and
 * `flotilla_saga_unknown_type_total{type}`. Orchestrators sharing a registry share them. Without a
 * registry every call does nothing.
 */
export class SagaMetrics {
  readonly #started: Counter<"type"> | undefined;
  readonly #ended: Counter<"type" | "state"> | undefined;
  readonly #endChanged: Counter<"type" | "from" | "to"> | undefined;
  readonly #duration: Histogram<"type" | "state"> | undefined;
  readonly #stepDuration: Histogram<"type" | "step" | "kind"> | undefined;
  readonly #failedCompensation: Gauge<"type"> | undefined;
  readonly #notifyFailed: Counter<"type" | "step"> | undefined;
  readonly #unknownType: Counter<"type"> | undefined;

  constructor(registry: Registry | undefined) {
    if (registry === undefined) return;
    const registers = [registry];
    this.#started = metric(
      registry,
      "flotilla_saga_started_total",
      (name) => new Counter({ name, help: "Sagas started.", labelNames: ["type"], registers }),
    );
    this.#ended = metric(
      registry,
      "flotilla_saga_ended_total",
      (name) =>
        new Counter({
          name,
          help: "Sagas that reached COMPLETED, COMPENSATED, FAILED_COMPENSATION or ABORTED, once per saga (its first end).",
          labelNames: ["type", "state"],
          registers,
        }),
    );
    this.#endChanged = metric(
      registry,
      "flotilla_saga_end_changed_total",
      (name) =>
        new Counter({
          name,
          help: "Sagas that had ended (FAILED_COMPENSATION) and, after an operator resume or abort, reached an end state again; from is the first end.",
          labelNames: ["type", "from", "to"],
          registers,
        }),
    );
    this.#duration = metric(
      registry,
      "flotilla_saga_duration_seconds",
      (name) =>
        new Histogram({
          name,
          help: "Time from a saga's creation to its end state.",
          labelNames: ["type", "state"],
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
          registers,
        }),
    );
    this.#stepDuration = metric(
      registry,
      "flotilla_saga_step_duration_seconds",
      (name) =>
        new Histogram({
          name,
          help: "Time of one step invocation or compensation attempt.",
          labelNames: ["type", "step", "kind"],
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers,
        }),
    );
    this.#failedCompensation = metric(
      registry,
      "flotilla_saga_failed_compensation",
      (name) =>
        new Gauge({
          name,
          help: "Sagas in FAILED_COMPENSATION (need an operator), as last counted.",
          labelNames: ["type"],
          registers,
        }),
    );
    this.#notifyFailed = metric(
      registry,
      "flotilla_saga_notify_failed_total",
      (name) =>
        new Counter({
          name,
          help: "One-way notifications of sagas that failed.",
          labelNames: ["type", "step"],
          registers,
        }),
    );
    this.#unknownType = metric(
      registry,
      "flotilla_saga_unknown_type_total",
      (name) =>
        new Counter({
          name,
          help: "Unfinished sagas found whose type no orchestrator here registers (counted once per type and orchestrator).",
          labelNames: ["type"],
          registers,
        }),
    );
  }

  /** A saga started: by `startSaga`, or (started in a caller's transaction) at its first claim. */
  started(type: string): void {
    this.#started?.inc({ type });
  }

  /** A saga's first end state; `seconds` from its creation (undefined: not observed). */
  ended(type: string, state: string, seconds: number | undefined): void {
    this.#ended?.inc({ type, state });
    if (seconds !== undefined) this.#duration?.observe({ type, state }, seconds);
  }

  /** A saga that first ended in `from` reached the end state `to` after an operator resume or abort. */
  endChanged(type: string, from: string, to: string): void {
    this.#endChanged?.inc({ type, from, to });
  }

  step(type: string, step: string, kind: StepKind, seconds: number): void {
    this.#stepDuration?.observe({ type, step, kind }, seconds);
  }

  notifyFailed(type: string, step: string): void {
    this.#notifyFailed?.inc({ type, step });
  }

  unknownType(type: string, count: number): void {
    this.#unknownType?.inc({ type }, count);
  }

  /** Sets the FAILED_COMPENSATION gauge from a fresh count per type (types absent now read 0). */
  failedCompensations(counts: ReadonlyMap<string, number>, types: readonly string[]): void {
    if (this.#failedCompensation === undefined) return;
    for (const type of new Set([...types, ...counts.keys()]))
      this.#failedCompensation.set({ type }, counts.get(type) ?? 0);
  }
}

function metric<T>(registry: Registry, name: string, create: (name: string) => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create(name);
}
