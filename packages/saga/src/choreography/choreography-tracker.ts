import {
  type Envelope,
  type EventHandler,
  type MessagingLogger,
  on,
  type Queryable,
  silentLogger,
} from "@flotilla/messaging";
import { ConfigReader } from "@flotilla/resilience";
import { advisoryLockKey } from "@flotilla/service";
import type { Pool, PoolClient } from "pg";
import { throwIfOptionsInvalid } from "../participant/saga-options-error.js";
import { readSqlIdentifier } from "../participant/sql-identifier.js";
import { SagaError, SagaErrorCode } from "../saga-error.js";
import { isSagaState, isTerminalSagaState, SagaState } from "../saga-state.js";
import { choreographyState } from "./choreography-state.js";
import type { ChoreographyEventView, ChoreographyListFilter, ChoreographyView } from "./choreography-view.js";
import type { ChoreographyDefinition, ChoreographyRole } from "./define-choreography.js";

/** Options of {@link choreographyTracker}. */
export interface ChoreographyTrackerOptions {
  /** The tracker's database (instances and their events); also used by `list`/`get`. */
  readonly db: Pool;
  /** The choreographies to track, from `defineChoreography`. */
  readonly definitions: readonly ChoreographyDefinition[];
  /** The schema of the tables. Default `"flotilla"`. */
  readonly schema?: string;
  /** pino-compatible; default silent. */
  readonly logger?: MessagingLogger;
}

interface InstanceRow {
  readonly correlation_id: string;
  readonly type: string;
  readonly state: SagaState;
  readonly created_at: Date;
  readonly updated_at: Date;
  readonly ended_at: Date | null;
  readonly error: string | null;
}

interface EventRow {
  readonly correlation_id: string;
  readonly event_id: string;
  readonly event_type: string;
  readonly role: ChoreographyRole;
  readonly source: string;
  readonly time: Date;
  readonly received_at: Date;
}

const defaultLimit = 50;
const maxLimit = 500;

/**
 * Derives the state of choreographed sagas from the events they publish, so they are visible the
 * same way as orchestrated ones. Its {@link ChoreographyTracker.handlers} go into a consumer of
 * their own (a consumer group that sees every tracked event, with `db`: each event is recorded
 * exactly once in the inbox transaction); per correlation id it keeps the instance
 * (`choreography_instances`: type, state, times, error) and the events seen
 * (`choreography_events`). The state follows from the roles of the events seen, whatever their
 * order (see `defineChoreography`); an event seen twice counts once.
 *
 * An instance is opened by its start event or, when a later event arrives first, by the first
 * definition that lists that event. An event whose flow is of another type is ignored.
 *
 * @example
 * ```ts
 * const tracker = choreographyTracker({ db: pool, definitions: [orderFlow] });
 * await tracker.install();
 * const tracking = consumer({ name: "saga-tracker", transport, db: pool, handlers: tracker.handlers });
 * await tracking.start();
 * const failed = await tracker.list({ failedOnly: true });
 * const one = await tracker.get(orderId);
 * ```
 */
export class ChoreographyTracker {
  /** One handler per tracked event type, for a consumer's `handlers`. */
  readonly handlers: readonly EventHandler[];
  /** The instances table, quoted and schema-qualified. */
  readonly instancesTable: string;
  /** The events table, quoted and schema-qualified. */
  readonly eventsTable: string;
  readonly #db: Pool;
  readonly #definitions: ReadonlyMap<string, ChoreographyDefinition>;
  readonly #logger: MessagingLogger;
  readonly #install: string;

  /** Validates `options`; prefer {@link choreographyTracker}. */
  constructor(options: ChoreographyTrackerOptions) {
    const reader = new ConfigReader();
    const raw = reader.object(options, "");
    reader.knownKeys(raw, ["db", "definitions", "schema", "logger"], "");
    if (typeof (raw.db as Partial<Pool> | undefined)?.connect !== "function") {
      reader.issue("db", "expected a pg Pool");
    }
    const schema = readSqlIdentifier(reader, raw, "schema", "", "flotilla");
    const definitions = new Map<string, ChoreographyDefinition>();
    if (!Array.isArray(raw.definitions) || raw.definitions.length === 0) {
      reader.issue("definitions", "expected a non-empty array of defineChoreography() definitions");
    } else {
      raw.definitions.forEach((value: Partial<ChoreographyDefinition> | undefined, index) => {
        if (typeof value?.type !== "string" || !(value.roles instanceof Map)) {
          reader.issue(`definitions[${index}]`, "expected a defineChoreography() definition");
        } else if (definitions.has(value.type)) {
          reader.issue(`definitions[${index}]`, `a second definition of "${value.type}"`);
        } else definitions.set(value.type, value as ChoreographyDefinition);
      });
    }
    const logger = raw.logger as MessagingLogger | undefined;
    if (logger !== undefined && typeof logger?.warn !== "function") {
      reader.issue("logger", "expected a pino-compatible logger");
    }
    throwIfOptionsInvalid(reader, "choreographyTracker");
    this.#db = options.db;
    this.#definitions = definitions;
    this.#logger = logger ?? silentLogger;
    this.instancesTable = `"${schema}"."choreography_instances"`;
    this.eventsTable = `"${schema}"."choreography_events"`;
    this.#install = installSql(schema, this.instancesTable, this.eventsTable);
    const events = new Map<string, EventHandler>();
    for (const definition of definitions.values()) {
      for (const [type, event] of definition.events) {
        if (!events.has(type))
          events.set(
            type,
            on(event, (envelope, { tx }) => this.#track(envelope, tx)),
          );
      }
    }
    this.handlers = [...events.values()];
  }

  /** Creates the schema and tables unless they exist; safe when several instances start at once. */
  async install(): Promise<void> {
    await this.#db.query(this.#install);
  }

  /**
   * The instances matching `filter`, newest first (by their first event), without their events.
   * Throws a `FLT_SAGA_OPTIONS_INVALID` `SagaError` naming a bad filter.
   */
  async list(filter: ChoreographyListFilter = {}): Promise<ChoreographyView[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (condition: (placeholder: string) => string, value: unknown) => {
      values.push(value);
      where.push(condition(`$${values.length}`));
    };
    const { type, state, failedOnly, from, to } = filter;
    const limit = filter.limit ?? defaultLimit;
    const offset = filter.offset ?? 0;
    const issues: { path: string; message: string }[] = [];
    const states = state === undefined ? undefined : Array.isArray(state) ? state : [state];
    if (states?.some((one) => !isSagaState(one))) {
      issues.push({ path: "state", message: `expected saga states, got ${JSON.stringify(state)}` });
    }
    if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
      issues.push({
        path: "limit",
        message: `expected a whole number from 1 to ${maxLimit}, got ${String(limit)}`,
      });
    }
    if (!Number.isInteger(offset) || offset < 0) {
      issues.push({ path: "offset", message: `expected a whole number from 0, got ${String(offset)}` });
    }
    const fromDate = readTime(from, "from", issues);
    const toDate = readTime(to, "to", issues);
    if (issues.length > 0) {
      throw new SagaError(
        SagaErrorCode.OptionsInvalid,
        `invalid choreography list filter: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
        { issues },
      );
    }
    if (type !== undefined) add((p) => `type = ${p}`, type);
    if (states !== undefined) add((p) => `state = ANY(${p}::text[])`, states);
    if (failedOnly === true) add((p) => `state = ${p}`, SagaState.FailedCompensation);
    if (fromDate !== undefined) add((p) => `created_at >= ${p}`, fromDate);
    if (toDate !== undefined) add((p) => `created_at < ${p}`, toDate);
    values.push(limit, offset);
    const { rows } = await this.#db.query(
      `SELECT * FROM ${this.instancesTable}${where.length === 0 ? "" : ` WHERE ${where.join(" AND ")}`}
ORDER BY created_at DESC, correlation_id LIMIT $${values.length - 1} OFFSET $${values.length}`,
      values,
    );
    return (rows as InstanceRow[]).map((row) => view(row, []));
  }

  /** The instance of `correlationId` with the events seen, oldest first; `undefined` when there is none. */
  async get(correlationId: string): Promise<ChoreographyView | undefined> {
    const [instance, events] = await Promise.all([
      this.#db.query(`SELECT * FROM ${this.instancesTable} WHERE correlation_id = $1`, [correlationId]),
      this.#db.query(
        `SELECT * FROM ${this.eventsTable} WHERE correlation_id = $1 ORDER BY time, received_at`,
        [correlationId],
      ),
    ]);
    const row = instance.rows[0] as InstanceRow | undefined;
    return row === undefined ? undefined : view(row, events.rows as EventRow[]);
  }

  async #track(envelope: Envelope, tx: PoolClient | undefined): Promise<void> {
    if (tx !== undefined) {
      await this.#record(tx, envelope);
      return;
    }
    // Without the consumer's inbox transaction, the tracker's statements still need one of their own (the row lock).
    const client = await this.#db.connect();
    try {
      await client.query("BEGIN");
      await this.#record(client, envelope);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async #record(tx: Queryable, envelope: Envelope): Promise<void> {
    const correlationId = envelope.correlationid ?? envelope.id;
    const opener = this.#opener(envelope.type);
    if (opener === undefined) return;
    await tx.query(
      `INSERT INTO ${this.instancesTable} (correlation_id, type, state, created_at) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING`,
      [correlationId, opener.type, SagaState.Running, envelope.time],
    );
    const { rows } = await tx.query(
      `SELECT type FROM ${this.instancesTable} WHERE correlation_id = $1 FOR UPDATE`,
      [correlationId],
    );
    const type = (rows[0] as { type: string }).type;
    const definition = this.#definitions.get(type);
    const role = definition?.roles.get(envelope.type);
    const fields = { correlationId, flow: type, event: envelope.type, eventId: envelope.id };
    if (role === undefined) {
      this.#logger.debug(fields, "event not part of its correlation id's flow; ignored by the tracker");
      return;
    }
    const inserted = await tx.query(
      `INSERT INTO ${this.eventsTable} (correlation_id, event_id, event_type, role, source, time)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
      [correlationId, envelope.id, envelope.type, role, envelope.source, envelope.time],
    );
    if (inserted.rowCount === 0) {
      this.#logger.debug(fields, "event already tracked");
      return;
    }
    const seen = await tx.query(
      `SELECT role, event_type FROM ${this.eventsTable} WHERE correlation_id = $1 ORDER BY time, received_at`,
      [correlationId],
    );
    const seenRows = seen.rows as { role: ChoreographyRole; event_type: string }[];
    const state = choreographyState(seenRows.map((row) => row.role));
    const error =
      seenRows.find((row) => row.role === "failed") ?? seenRows.find((row) => row.role === "compensating");
    await tx.query(
      `UPDATE ${this.instancesTable} SET state = $2, error = $3, updated_at = now(),
  created_at = LEAST(created_at, $4::timestamptz),
  ended_at = CASE WHEN $5 THEN COALESCE(ended_at, now()) END
WHERE correlation_id = $1`,
      [correlationId, state, error?.event_type ?? null, envelope.time, isEnded(state)],
    );
    this.#logger.debug({ ...fields, role, state }, "choreography event tracked");
  }

  /** The definition that opens an instance for an event of `type`: one that starts with it, else the first listing it. */
  #opener(type: string): ChoreographyDefinition | undefined {
    let first: ChoreographyDefinition | undefined;
    for (const definition of this.#definitions.values()) {
      if (definition.start === type) return definition;
      if (first === undefined && definition.roles.has(type)) first = definition;
    }
    return first;
  }
}

/**
 * Creates a {@link ChoreographyTracker}; call `install()`, then consume with its `handlers`.
 * Throws a `FLT_SAGA_OPTIONS_INVALID` `SagaError` listing every bad option with its path.
 *
 * @example
 * ```ts
 * const tracker = choreographyTracker({ db: pool, definitions: [orderFlow], schema: "tracking" });
 * ```
 */
export function choreographyTracker(options: ChoreographyTrackerOptions): ChoreographyTracker {
  return new ChoreographyTracker(options);
}

function isEnded(state: SagaState): boolean {
  return isTerminalSagaState(state) || state === SagaState.FailedCompensation;
}

function readTime(
  value: Date | string | undefined,
  path: string,
  issues: { path: string; message: string }[],
): Date | undefined {
  if (value === undefined) return undefined;
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) {
    issues.push({ path, message: `expected a date or an RFC 3339 time, got ${JSON.stringify(value)}` });
    return undefined;
  }
  return date;
}

function view(row: InstanceRow, events: readonly EventRow[]): ChoreographyView {
  return {
    id: row.correlation_id,
    style: "choreography",
    type: row.type,
    state: row.state,
    correlationId: row.correlation_id,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    endedAt: row.ended_at?.toISOString() ?? null,
    error: row.error,
    steps: events.map(
      (event): ChoreographyEventView => ({
        step: event.event_type,
        role: event.role,
        eventId: event.event_id,
        source: event.source,
        time: event.time.toISOString(),
        receivedAt: event.received_at.toISOString(),
      }),
    ),
  };
}

function installSql(schema: string, instances: string, events: string): string {
  const lock = advisoryLockKey(`flotilla.saga.choreography.install:${instances}`);
  return `BEGIN;
SELECT pg_advisory_xact_lock(${lock});
CREATE SCHEMA IF NOT EXISTS "${schema}";
CREATE TABLE IF NOT EXISTS ${instances} (
  correlation_id text PRIMARY KEY,
  type text NOT NULL,
  state text NOT NULL,
  error text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz
);
CREATE INDEX IF NOT EXISTS choreography_instances_state_idx ON ${instances} (state, created_at);
CREATE INDEX IF NOT EXISTS choreography_instances_type_idx ON ${instances} (type, created_at);
CREATE TABLE IF NOT EXISTS ${events} (
  correlation_id text NOT NULL REFERENCES ${instances} ON DELETE CASCADE,
  event_id text NOT NULL,
  event_type text NOT NULL,
  role text NOT NULL,
  source text NOT NULL,
  time timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (correlation_id, event_id)
);
COMMIT;`;
}
