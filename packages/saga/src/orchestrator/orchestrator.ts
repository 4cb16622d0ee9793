import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { readLogger } from "@flotilla/messaging";
import {
  type Backoff,
  type Clock,
  ConfigReader,
  type Duration,
  fullJitterBackoff,
} from "@flotilla/resilience";
import type { Span } from "@opentelemetry/api";
import type pg from "pg";
import type { Registry } from "prom-client";
import type { AnySagaDefinition, SagaDefinition } from "../definition/saga-definition.js";
import { SagaError, SagaErrorCode } from "../saga-error.js";
import type { SagaLogger } from "../saga-logger.js";
import { SagaState } from "../saga-state.js";
import type { SagaRow, SagaStepRow } from "../store/saga-row.js";
import { type ClaimedSaga, type SagaListFilter, type SagaQueryable, SagaStore } from "../store/saga-store.js";
import { SagaMetrics } from "./saga-metrics.js";
import { SagaRun } from "./saga-run.js";
import { startSagaSpan } from "./saga-tracing.js";

/** Options of {@link orchestrator}. */
export interface OrchestratorOptions {
  /** The orchestrating service's own database. */
  readonly db: pg.Pool;
  /** The saga definitions this instance runs; sagas of other types in the table are reported, never claimed. */
  readonly sagas: readonly AnySagaDefinition[];
  /** Lease owner name. Default `<hostname>-<pid>-<random>`. */
  readonly instanceId?: string;
  /** Schema of the saga tables. Default `flotilla_saga`. */
  readonly schema?: string;
  /** How long a claimed saga stays leased without a heartbeat. Default `"30s"`. */
  readonly leaseTtl?: Duration;
  /** Lease renewal interval. Default a third of `leaseTtl`. */
  readonly heartbeat?: Duration;
  /** How often to look for sagas to resume. Default `"1s"`. */
  readonly pollInterval?: Duration;
  /** Sagas executed at once by this instance. Default 64. */
  readonly concurrency?: number;
  /** Compensation retries: `maxAttempts` (default 10) and `backoff` (default full jitter 100 ms … 10 s). */
  readonly compensation?: { readonly maxAttempts?: number; readonly backoff?: Backoff };
  /** Longest wait between rounds of retries of a step after the pivot. Default `"30s"`. */
  readonly maxRetryDelay?: Duration;
  /** Interval of the scan for unknown saga types and FAILED_COMPENSATION counts. Default `"30s"`. */
  readonly scanInterval?: Duration;
  /** prom-client registry for the metrics. Default none. */
  readonly registry?: Registry;
  /** pino-compatible; default silent. */
  readonly logger?: SagaLogger;
  /** Times polls, heartbeats, retries and timeouts. Default `systemClock`. */
  readonly clock?: Clock;
}

/** Options of {@link Orchestrator.startSaga}. */
export interface StartSagaOptions {
  /** The saga id (a UUID). Default a random one. Starting an id that exists fails. */
  readonly id?: string;
  /**
   * Insert within the caller's transaction: the saga starts once it commits, picked up by the next
   * poll — or at once by calling {@link Orchestrator.runSoon} with its id after the commit.
   */
  readonly tx?: SagaQueryable;
  /** Stored with the saga (a business id, a request id). */
  readonly correlationId?: string;
}

const knownOptions = [
  "db",
  "sagas",
  "instanceId",
  "schema",
  "leaseTtl",
  "heartbeat",
  "pollInterval",
  "concurrency",
  "compensation",
  "maxRetryDelay",
  "scanInterval",
  "registry",
  "logger",
  "clock",
];

/**
 * Runs durable sagas on the service's own PostgreSQL. Each saga's state and step log are committed
 * once per completed step; instances share the work with leases (`FOR UPDATE SKIP LOCKED`,
 * heartbeats, optimistic concurrency), so a saga is never executed by two of them at once, and
 * after a crash the next claimer resumes it exactly as the log says.
 *
 * @example
 * ```ts
 * const orch = orchestrator({ db: pool, sagas: [orderSaga], registry: metrics.registry, logger });
 * await orch.start();
 * const { id } = await orch.startSaga(orderSaga, { orderId: "o-1", amount: 42 });
 * // on shutdown
 * await orch.close();
 * ```
 */
export class Orchestrator {
  /** The saga tables. */
  readonly store: SagaStore;
  /** This instance's lease owner name. */
  readonly instanceId: string;
  readonly #pool: pg.Pool;
  readonly #definitions = new Map<string, SagaDefinition>();
  readonly #leaseTtlMs: number;
  readonly #heartbeatMs: number;
  readonly #pollMs: number;
  readonly #scanMs: number;
  readonly #concurrency: number;
  readonly #clock: Clock;
  readonly #logger: SagaLogger;
  readonly #metrics: SagaMetrics;
  readonly #runDeps: ConstructorParameters<typeof SagaRun>[2];
  readonly #runs = new Map<string, { run: SagaRun; done: Promise<SagaRow>; renewedAt: number }>();
  readonly #reportedUnknown = new Set<string>();
  #unknown = new Map<string, number>();
  #state: "new" | "starting" | "running" | "closing" | "closed" = "new";
  #started: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  #pollTimer: unknown;
  #heartbeatTimer: unknown;
  #polling: Promise<void> | undefined;
  #lastScan = Number.NEGATIVE_INFINITY;
  #backlog = false;

  constructor(options: OrchestratorOptions) {
    const reader = new ConfigReader();
    const raw = reader.object(options, "");
    reader.knownKeys(raw, knownOptions, "");
    if (typeof (raw.db as pg.Pool | undefined)?.query !== "function")
      reader.issue("db", "expected a pg.Pool");
    const sagas = Array.isArray(raw.sagas) ? (raw.sagas as SagaDefinition[]) : [];
    if (!Array.isArray(raw.sagas))
      reader.issue("sagas", "expected an array of saga definitions (defineSaga(...).build())");
    sagas.forEach((saga, i) => {
      if (typeof saga?.type !== "string" || !Array.isArray(saga.nodes))
        reader.issue(`sagas[${i}]`, "expected a built saga definition");
      else if (this.#definitions.has(saga.type))
        reader.issue(`sagas[${i}]`, `saga type "${saga.type}" registered twice`);
      else this.#definitions.set(saga.type, saga);
    });
    this.instanceId = reader.string(
      raw,
      "instanceId",
      "",
      `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
    );
    this.#leaseTtlMs = reader.duration(raw, "leaseTtl", "", 30_000, { min: 100 });
    this.#heartbeatMs = reader.duration(raw, "heartbeat", "", Math.floor(this.#leaseTtlMs / 3), {
      above: 0,
      max: this.#leaseTtlMs / 2,
    });
    this.#pollMs = reader.duration(raw, "pollInterval", "", 1_000, { above: 0 });
    this.#scanMs = reader.duration(raw, "scanInterval", "", 30_000, { above: 0 });
    const maxRetryDelayMs = reader.duration(raw, "maxRetryDelay", "", 30_000, { above: 0 });
    this.#concurrency = reader.number(raw, "concurrency", "", 64, { integer: true, min: 1 });
    const compensation = reader.object(raw.compensation, "compensation");
    reader.knownKeys(compensation, ["maxAttempts", "backoff"], "compensation");
    const compensationMaxAttempts = reader.number(compensation, "maxAttempts", "compensation", 10, {
      integer: true,
      min: 1,
    });
    const compensationBackoff =
      reader.fn<Backoff>(compensation, "backoff", "compensation") ??
      fullJitterBackoff({ initialDelay: "100ms", maxDelay: "10s" });
    this.#clock = reader.clock(raw, "clock", "");
    this.#logger = readLogger(reader, raw.logger, "logger");
    const registry = raw.registry as Registry | undefined;
    if (registry !== undefined && typeof registry?.getSingleMetric !== "function")
      reader.issue("registry", "expected a prom-client Registry");
    let store: SagaStore | undefined;
    try {
      store = new SagaStore(reader.string(raw, "schema", "", "flotilla_saga"));
    } catch (error) {
      reader.issue("schema", (error as Error).message);
    }
    if (reader.issues.length > 0 || store === undefined) {
      throw new SagaError(
        SagaErrorCode.OptionsInvalid,
        `invalid orchestrator options: ${reader.issues.map((i) => `${i.path || "(options)"}: ${i.message}`).join("; ")}`,
        { issues: reader.issues },
      );
    }
    this.store = store;
    this.#pool = raw.db as pg.Pool;
    this.#metrics = new SagaMetrics(registry);
    this.#runDeps = {
      pool: this.#pool,
      store,
      owner: this.instanceId,
      leaseTtlMs: this.#leaseTtlMs,
      clock: this.#clock,
      logger: this.#logger,
      metrics: this.#metrics,
      compensationMaxAttempts,
      compensationBackoff,
      maxRetryDelayMs,
    };
  }

  /**
   * Installs the tables (idempotent), claims what is waiting (resolving after that first claim),
   * then keeps claiming, heartbeating and scanning. Idempotent.
   */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    this.#state = "starting";
    await this.store.install(this.#pool);
    if (this.#state !== "starting") return;
    this.#state = "running";
    this.#logger.info(
      { instanceId: this.instanceId, types: [...this.#definitions.keys()] },
      "saga orchestrator started",
    );
    this.#scheduleHeartbeat();
    // The first claim runs before start() resolves, so what was waiting is already picked up then
    // (and a saga started afterwards is not raced by a late first poll).
    const first = this.#poll();
    this.#polling = first.then(() => undefined);
    const next = await first;
    this.#polling = undefined;
    if (this.#pollTimer === undefined) this.#wake(next);
  }

  /**
   * Validates `input`, inserts the saga (one commit, or inside `options.tx`) and, without `tx`, runs
   * it in this instance at once. With `tx` the saga runs once the caller's transaction has committed:
   * call {@link Orchestrator.runSoon} after the commit to start it without waiting for a poll. Throws
   * `FLT_SAGA_INPUT_INVALID` (with every failing path) before writing anything.
   *
   * @example
   * ```ts
   * const { id } = await withTransaction(pool, async (tx) => {
   *   await tx.query("INSERT INTO orders (id, amount) VALUES ($1, $2)", [orderId, amount]);
   *   return orch.startSaga(orderSaga, { orderId, amount }, { tx });
   * });
   * await orch.runSoon(id);
   * ```
   */
  async startSaga<I>(
    definition: SagaDefinition<I, unknown>,
    input: I,
    options: StartSagaOptions = {},
  ): Promise<{ id: string }> {
    if (this.#state !== "running" && this.#state !== "starting") {
      throw new SagaError(
        SagaErrorCode.Closed,
        `orchestrator ${this.instanceId} is not running (call start())`,
      );
    }
    const registered = this.#definitions.get(definition.type);
    if (registered !== (definition as SagaDefinition)) {
      throw new SagaError(
        SagaErrorCode.UnknownType,
        `saga type "${definition.type}" is not registered with this orchestrator`,
        {
          sagaType: definition.type,
        },
      );
    }
    const parsed = definition.input.safeParse(input);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => ({
        path: issue.path.length === 0 ? "(input)" : issue.path.map(String).join("."),
        message: issue.message,
      }));
      throw new SagaError(
        SagaErrorCode.InputInvalid,
        `input of saga "${definition.type}" is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
        { sagaType: definition.type, issues },
      );
    }
    await this.start();
    const id = options.id ?? randomUUID();
    const { span, traceparent } = startSagaSpan(definition.type, id);
    let launched = false;
    try {
      const row = await this.store.insert(options.tx ?? this.#pool, {
        id,
        type: definition.type,
        version: definition.version,
        input: parsed.data,
        deadlineMs: definition.deadlineMs,
        traceparent,
        correlationId: options.correlationId,
        leaseOwner: options.tx === undefined ? this.instanceId : undefined,
        leaseTtlMs: this.#leaseTtlMs,
      });
      // In a caller's transaction the insert may still roll back: counted when first claimed.
      if (options.tx === undefined) {
        this.#metrics.started(definition.type);
        launched = this.#launch(row, span);
      }
      return { id };
    } finally {
      // Without a run here (inserted in the caller's transaction) the root span covers the insert only.
      if (!launched) span.end();
    }
  }

  /**
   * Claims the saga `id` and runs it in this instance now, instead of at the next poll: meant for a
   * saga started with `startSaga(..., { tx })`, right after that transaction commits. Resolves true
   * when the saga runs here (already did, or just claimed); false when it cannot be claimed now — an
   * unknown or uncommitted id, a finished saga, a type not registered here, a lease held by another
   * instance, this orchestrator not running, or the database failing (logged) — in which case the
   * polls of the orchestrators pick it up as usual. Never rejects.
   */
  async runSoon(id: string): Promise<boolean> {
    if (this.#runs.has(id)) return true;
    if (this.#state !== "running") return false;
    let row: ClaimedSaga | undefined;
    try {
      row = await this.store.claimOne(
        this.#pool,
        this.instanceId,
        [...this.#definitions.keys()],
        this.#leaseTtlMs,
        id,
      );
    } catch (error) {
      this.#logger.warn({ err: error, sagaId: id }, "could not claim the saga now; a poll will");
      return false;
    }
    if (row === undefined) return this.#runs.has(id);
    if (this.#state !== "running") {
      await this.store.release(this.#pool, this.instanceId, [row.id]).catch(() => {});
      return false;
    }
    this.#claimed(row);
    return true;
  }

  /**
   * Operator resume: a FAILED_COMPENSATION saga compensates again (attempts reset); an active saga is
   * taken over by this instance. Runs here at once when its type is registered.
   */
  async resume(id: string): Promise<SagaRow> {
    const row = await this.store.get(this.#pool, id);
    if (row === undefined) throw new SagaError(SagaErrorCode.NotFound, `no saga ${id}`, { sagaId: id });
    const local = this.#definitions.has(row.type) && this.#state === "running";
    this.#runs.get(id)?.run.abort("resumed by an operator");
    await this.#runs.get(id)?.done;
    const resumed = await this.store.resume(
      this.#pool,
      id,
      local ? this.instanceId : undefined,
      this.#leaseTtlMs,
    );
    if (resumed === undefined) {
      throw new SagaError(
        SagaErrorCode.InvalidState,
        `saga ${id} is ${row.state}; only an unfinished saga can be resumed`,
        { sagaId: id },
      );
    }
    this.#logger.info({ sagaId: id, from: row.state }, "saga resumed by an operator");
    if (local) this.#launch(resumed);
    return resumed;
  }

  /** Operator abort: marks a non-terminal saga ABORTED; whoever runs it stops at its next write. */
  async abort(id: string, reason = "aborted by an operator"): Promise<SagaRow> {
    const aborted = await this.store.abort(this.#pool, id, reason);
    if (aborted === undefined) {
      const row = await this.store.get(this.#pool, id);
      if (row === undefined) throw new SagaError(SagaErrorCode.NotFound, `no saga ${id}`, { sagaId: id });
      throw new SagaError(SagaErrorCode.InvalidState, `saga ${id} is ${row.state} and cannot be aborted`, {
        sagaId: id,
      });
    }
    this.#runs.get(id)?.run.abort("aborted by an operator");
    // The store keeps the first end: ABORTED there means this abort is the saga's first end.
    if (aborted.firstEnd === SagaState.Aborted)
      this.#metrics.ended(aborted.type, SagaState.Aborted, undefined);
    else if (aborted.firstEnd !== null)
      this.#metrics.endChanged(aborted.type, aborted.firstEnd, SagaState.Aborted);
    this.#logger.warn({ sagaId: id, reason }, "saga aborted by an operator");
    return aborted;
  }

  /** One saga and its step log. */
  async get(id: string): Promise<{ saga: SagaRow; steps: SagaStepRow[] } | undefined> {
    const saga = await this.store.get(this.#pool, id);
    if (saga === undefined) return undefined;
    return { saga, steps: await this.store.stepLog(this.#pool, id) };
  }

  /** Sagas matching `filter`, newest first. */
  list(filter?: SagaListFilter): Promise<SagaRow[]> {
    return this.store.list(this.#pool, filter);
  }

  /**
   * Reads now which unfinished sagas have a type not registered here (reporting new ones in the log
   * and the metrics, as the periodic scan does) and returns them by type.
   */
  async scanUnknownTypes(): Promise<ReadonlyMap<string, number>> {
    await this.#scan();
    return this.#unknown;
  }

  /** Unfinished sagas whose type is not registered here, by type (as of the last scan). */
  unknownTypes(): ReadonlyMap<string, number> {
    return this.#unknown;
  }

  /** Waits until the saga `id` run by this instance stops; resolves with its last row (undefined if none runs here). */
  async settled(id: string): Promise<SagaRow | undefined> {
    return this.#runs.get(id)?.done;
  }

  /** Number of sagas executing in this instance. */
  get inFlight(): number {
    return this.#runs.size;
  }

  /**
   * Stops claiming, aborts the sagas in flight (each stops without writing further; its current step
   * is re-invoked with the same idempotency key by whoever resumes it), and releases their leases so
   * other instances can take them at once. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    await this.#started?.catch(() => {});
    this.#state = "closing";
    this.#clock.clearTimeout(this.#pollTimer as never);
    this.#clock.clearTimeout(this.#heartbeatTimer as never);
    await this.#polling;
    const runs = [...this.#runs.values()];
    for (const { run } of runs) run.abort("orchestrator closing");
    await Promise.all(runs.map((r) => r.done));
    await this.store
      .release(
        this.#pool,
        this.instanceId,
        runs.map((r) => r.run.id),
      )
      .catch((error: unknown) => {
        this.#logger.warn({ err: error }, "could not release saga leases; they expire by themselves");
      });
    this.#state = "closed";
    this.#logger.info({ instanceId: this.instanceId }, "saga orchestrator closed");
  }

  /** Runs `row` here; `span` is its root span when this process started it. False when its type is unknown. */
  #launch(row: SagaRow, span?: Span): boolean {
    const definition = this.#definitions.get(row.type);
    if (definition === undefined) return false;
    const run = new SagaRun(row, definition, this.#runDeps, span);
    const entry = { run, done: run.run(), renewedAt: this.#clock.now() };
    this.#runs.set(row.id, entry);
    void entry.done.then(() => {
      if (this.#runs.get(row.id) === entry) this.#runs.delete(row.id);
      if (this.#backlog) this.#wake(0);
    });
    return true;
  }

  #wake(ms: number): void {
    if (this.#state !== "running") return;
    this.#clock.clearTimeout(this.#pollTimer as never);
    this.#pollTimer = this.#clock.setTimeout(() => {
      this.#pollTimer = undefined;
      if (this.#polling !== undefined) return;
      this.#polling = this.#poll().then((next) => {
        this.#polling = undefined;
        if (this.#pollTimer === undefined) this.#wake(next);
      });
    }, ms);
  }

  /** Claims what it can; returns the delay until the next poll. */
  async #poll(): Promise<number> {
    try {
      if (this.#clock.now() - this.#lastScan >= this.#scanMs) await this.#scan();
      const free = this.#concurrency - this.#runs.size;
      this.#backlog = false;
      if (free <= 0 || this.#state !== "running") {
        this.#backlog = true;
        return this.#pollMs;
      }
      const rows = await this.store.claim(
        this.#pool,
        this.instanceId,
        [...this.#definitions.keys()],
        this.#leaseTtlMs,
        free,
        [...this.#runs.keys()],
      );
      if (this.#state !== "running") {
        await this.store.release(
          this.#pool,
          this.instanceId,
          rows.map((r) => r.id),
        );
        return this.#pollMs;
      }
      for (const row of rows) this.#claimed(row);
      this.#backlog = rows.length === free;
    } catch (error) {
      this.#logger.warn({ err: error }, "saga poll failed; retrying");
    }
    return this.#pollMs;
  }

  #claimed(row: ClaimedSaga): void {
    this.#logger.info(
      { sagaId: row.id, sagaType: row.type, state: row.state, position: row.position },
      "saga claimed",
    );
    if (row.firstClaim) this.#metrics.started(row.type);
    this.#launch(row);
  }

  async #scan(): Promise<void> {
    this.#lastScan = this.#clock.now();
    const types = [...this.#definitions.keys()];
    this.#unknown = await this.store.unknownTypes(this.#pool, types);
    for (const [type, count] of this.#unknown) {
      if (this.#reportedUnknown.has(type)) continue;
      this.#reportedUnknown.add(type);
      this.#metrics.unknownType(type, count);
      this.#logger.error(
        { sagaType: type, count },
        "unfinished sagas of a type this orchestrator does not know; left alone",
      );
    }
    this.#metrics.failedCompensations(await this.store.failedCompensations(this.#pool), types);
  }

  #scheduleHeartbeat(): void {
    if (this.#state !== "running") return;
    this.#heartbeatTimer = this.#clock.setTimeout(() => {
      void this.#beat().finally(() => this.#scheduleHeartbeat());
    }, this.#heartbeatMs);
  }

  async #beat(): Promise<void> {
    const entries = [...this.#runs.entries()];
    if (entries.length === 0) return;
    const sentAt = this.#clock.now();
    try {
      const held = await this.store.heartbeat(
        this.#pool,
        this.instanceId,
        entries.map(([id]) => id),
        this.#leaseTtlMs,
      );
      for (const [id, entry] of entries) {
        if (held.has(id)) entry.renewedAt = sentAt;
        else if (this.#runs.get(id) === entry) entry.run.abort("lease lost");
      }
    } catch (error) {
      this.#logger.warn({ err: error }, "saga lease heartbeat failed");
      // Without a renewal the lease runs out: stop before another instance may take the saga over.
      for (const [, entry] of entries) {
        if (this.#clock.now() - entry.renewedAt > this.#leaseTtlMs - this.#heartbeatMs)
          entry.run.abort("lease expiring");
      }
    }
  }
}

/** Creates an {@link Orchestrator}; call `start()` to install its tables and begin claiming. */
export function orchestrator(options: OrchestratorOptions): Orchestrator {
  return new Orchestrator(options);
}
