import { advisoryLockKey } from "@flotilla/service";
import type pg from "pg";
import { SagaError, SagaErrorCode } from "../saga-error.js";
import { activeSagaStates, isTerminalSagaState, SagaState } from "../saga-state.js";
import type { SagaRow, SagaStepRow, StepRecord } from "./saga-row.js";

/**
 * Anything that runs a query: a `pg.Pool`, a `pg.PoolClient` inside the caller's transaction. The
 * store's frequent statements are named (prepared once per connection), hence the config form.
 */
export interface SagaQueryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>>;
}

/** A new saga row. */
export interface NewSaga {
  readonly id: string;
  readonly type: string;
  readonly version: number;
  readonly input: unknown;
  readonly deadlineMs: number | undefined;
  readonly traceparent: string | undefined;
  readonly correlationId: string | undefined;
  /** Leased to this owner for `leaseTtlMs`; `undefined` leaves it for any orchestrator to claim. */
  readonly leaseOwner: string | undefined;
  readonly leaseTtlMs: number;
}

/** A saga state change guarded by optimistic concurrency (id + row_version + lease owner). */
export interface SagaUpdate {
  /**
   * The row as its writer last read or wrote it: the update applies to its id and row_version, and
   * the row {@link SagaStore.update} returns keeps its other columns.
   */
  readonly previous: SagaRow;
  readonly owner: string;
  readonly state: SagaState;
  readonly position: number;
  readonly data: Record<string, unknown>;
  readonly error: string | null;
  readonly attempts: number;
  readonly leaseTtlMs: number;
  readonly steps: readonly StepRecord[];
  /** Steps (full names) whose invocation failed with an uncertain outcome and still need compensating. */
  readonly uncertainSteps: readonly string[];
}

/** A saga leased by {@link SagaStore.claim} or {@link SagaStore.claimOne}. */
export interface ClaimedSaga extends SagaRow {
  /** True when this is the first lease of a saga inserted without one (started in a caller's transaction). */
  readonly firstClaim: boolean;
}

/** Filter of {@link SagaStore.list}. */
export interface SagaListFilter {
  readonly type?: string;
  readonly states?: readonly SagaState[];
  readonly since?: Date;
  readonly until?: Date;
  readonly limit?: number;
}

const identifier = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The saga tables in the orchestrating service's own database: `<schema>.sagas` (one row per
 * instance: state, position, data, lease, `row_version`) and `<schema>.saga_steps` (the step log).
 * Every change is one statement (one commit), and every change by an orchestrator is guarded by
 * `id`, `row_version` and `lease_owner`, so an instance that lost a saga can never change it.
 */
export class SagaStore {
  /** The schema, e.g. `flotilla_saga`. */
  readonly schema: string;
  /** `"<schema>".sagas`. */
  readonly sagas: string;
  /** `"<schema>".saga_steps`. */
  readonly steps: string;

  constructor(schema = "flotilla_saga") {
    if (!identifier.test(schema)) {
      throw new SagaError(
        SagaErrorCode.OptionsInvalid,
        `schema: expected a lower-case SQL identifier (letters, digits, _), got "${schema}"`,
        { issues: [{ path: "schema", message: "expected a lower-case SQL identifier" }] },
      );
    }
    this.schema = schema;
    this.sagas = `"${schema}".sagas`;
    this.steps = `"${schema}".saga_steps`;
  }

  /** Creates the schema, tables and indexes if missing; concurrent installs serialise on an advisory lock. */
  async install(pool: pg.Pool): Promise<void> {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1)", [
        advisoryLockKey(`flotilla-saga:${this.schema}`),
      ]);
      await client.query(`
CREATE SCHEMA IF NOT EXISTS "${this.schema}";
CREATE TABLE IF NOT EXISTS ${this.sagas} (
  id uuid PRIMARY KEY,
  type text NOT NULL,
  version integer NOT NULL DEFAULT 1,
  state text NOT NULL,
  input jsonb NOT NULL,
  data jsonb NOT NULL DEFAULT '{}',
  position integer NOT NULL DEFAULT 0,
  deadline timestamptz,
  error text,
  attempts integer NOT NULL DEFAULT 0,
  lease_owner text,
  lease_until timestamptz,
  row_version bigint NOT NULL DEFAULT 0,
  traceparent text,
  correlation_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  uncertain_steps text[] NOT NULL DEFAULT '{}',
  first_end text
);
ALTER TABLE ${this.sagas} ADD COLUMN IF NOT EXISTS uncertain_steps text[] NOT NULL DEFAULT '{}';
ALTER TABLE ${this.sagas} ADD COLUMN IF NOT EXISTS first_end text;
CREATE INDEX IF NOT EXISTS sagas_claimable ON ${this.sagas} (lease_until NULLS FIRST) WHERE state IN ('RUNNING', 'COMPENSATING');
CREATE INDEX IF NOT EXISTS sagas_state_created ON ${this.sagas} (state, created_at);
CREATE INDEX IF NOT EXISTS sagas_type_created ON ${this.sagas} (type, created_at);
CREATE TABLE IF NOT EXISTS ${this.steps} (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  saga_id uuid NOT NULL REFERENCES ${this.sagas} (id) ON DELETE CASCADE,
  step text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('invoke', 'compensate')),
  status text NOT NULL CHECK (status IN ('succeeded', 'failed')),
  attempt integer NOT NULL,
  started_at timestamptz NOT NULL,
  ended_at timestamptz NOT NULL,
  error text,
  result jsonb
);
CREATE INDEX IF NOT EXISTS saga_steps_saga ON ${this.steps} (saga_id, seq);`);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Inserts a new RUNNING saga (one statement: the caller's transaction or its own commit). The row
   * returned is built from what was written and the database's `now()`: reading every column back
   * made each of a saga's statements cost a row description and 21 parsed values in Node.
   */
  async insert(db: SagaQueryable, saga: NewSaga): Promise<SagaRow> {
    const input = JSON.stringify(saga.input ?? null);
    const deadlineMs = saga.deadlineMs ?? null;
    const leaseOwner = saga.leaseOwner ?? null;
    const { rows } = await db.query<{ now_ms: number }>({
      name: this.#name("insert"),
      text: `INSERT INTO ${this.sagas} (id, type, version, state, input, deadline, traceparent, correlation_id, lease_owner, lease_until)
       VALUES ($1, $2, $3, 'RUNNING', $4::jsonb, now() + $5 * interval '1 millisecond', $6, $7, $8::text,
               CASE WHEN $8::text IS NULL THEN NULL ELSE now() + $9 * interval '1 millisecond' END)
       RETURNING ${nowMs}`,
      values: [
        saga.id,
        saga.type,
        saga.version,
        input,
        deadlineMs,
        saga.traceparent ?? null,
        saga.correlationId ?? null,
        leaseOwner,
        saga.leaseTtlMs,
      ],
    });
    const now = Number(rows[0]?.now_ms);
    return {
      id: saga.id,
      type: saga.type,
      version: saga.version,
      state: SagaState.Running,
      // As stored: what a run resumed from the row would read, not the caller's object.
      input: JSON.parse(input),
      data: {},
      position: 0,
      deadline: deadlineMs === null ? null : new Date(now + deadlineMs),
      error: null,
      attempts: 0,
      leaseOwner,
      leaseUntil: leaseOwner === null ? null : new Date(now + saga.leaseTtlMs),
      rowVersion: 0,
      traceparent: saga.traceparent ?? null,
      correlationId: saga.correlationId ?? null,
      createdAt: new Date(now),
      updatedAt: new Date(now),
      endedAt: null,
      deadlineInMs: deadlineMs,
      uncertainSteps: [],
      firstEnd: null,
    };
  }

  /**
   * Leases up to `limit` RUNNING/COMPENSATING sagas of `types` whose lease is absent or expired
   * (`FOR UPDATE SKIP LOCKED`, so concurrent claimers never take the same row) to `owner`.
   */
  async claim(
    db: SagaQueryable,
    owner: string,
    types: readonly string[],
    leaseTtlMs: number,
    limit: number,
    exclude: readonly string[],
  ): Promise<ClaimedSaga[]> {
    const { rows } = await db.query({
      name: this.#name("claim"),
      text: this.#claimSql("NOT (id = ANY($5::uuid[])) ORDER BY lease_until NULLS FIRST LIMIT $4"),
      values: [owner, leaseTtlMs, types, limit, exclude],
    });
    return rows.map(toClaimed);
  }

  /** Leases the saga `id` to `owner` like {@link SagaStore.claim}; undefined when it is not claimable now. */
  async claimOne(
    db: SagaQueryable,
    owner: string,
    types: readonly string[],
    leaseTtlMs: number,
    id: string,
  ): Promise<ClaimedSaga | undefined> {
    if (!uuidPattern.test(id)) return undefined;
    const { rows } = await db.query({
      name: this.#name("claim_one"),
      text: this.#claimSql("id = $4::uuid"),
      values: [owner, leaseTtlMs, types, id],
    });
    return rows[0] === undefined ? undefined : toClaimed(rows[0]);
  }

  #claimSql(condition: string): string {
    // A saga never updated since its insert without a lease was started in a caller's transaction.
    return `UPDATE ${this.sagas} s SET lease_owner = $1, lease_until = now() + $2 * interval '1 millisecond',
              row_version = s.row_version + 1
       FROM (
         SELECT id AS claimed_id, (row_version = 0 AND lease_owner IS NULL) AS first_claim FROM ${this.sagas}
         WHERE state IN ('RUNNING', 'COMPENSATING') AND type = ANY($3::text[])
           AND (lease_until IS NULL OR lease_until < now()) AND ${condition}
         FOR UPDATE SKIP LOCKED) c
       WHERE s.id = c.claimed_id
       RETURNING ${this.#columns}, c.first_claim`;
  }

  /**
   * Applies `update` with its step log entries in one statement; undefined when the row changed
   * hands (lost). The row returned is `update.previous` with the change applied and the database's
   * `now()` for its timestamps, as {@link SagaStore.insert} builds its row. Its `data` is the object
   * written: the same JSON values as a read of the row gives, with object keys in the order written
   * rather than in jsonb's order.
   */
  async update(db: SagaQueryable, update: SagaUpdate): Promise<SagaRow | undefined> {
    const previous = update.previous;
    const { rows } = await db.query<{ now_ms: number }>({
      name: this.#name("update"),
      text: `WITH s AS (
         UPDATE ${this.sagas} SET state = $4, position = $5, data = $6::jsonb, error = $7, attempts = $8,
                row_version = row_version + 1, updated_at = now(),
                lease_until = CASE WHEN $4 IN ('RUNNING', 'COMPENSATING') THEN now() + $9 * interval '1 millisecond' END,
                lease_owner = CASE WHEN $4 IN ('RUNNING', 'COMPENSATING') THEN lease_owner END,
                ended_at = CASE WHEN $4 IN ('COMPLETED', 'COMPENSATED', 'ABORTED') THEN now() END,
                uncertain_steps = $11::text[],
                first_end = coalesce(first_end,
                  CASE WHEN $4 IN ('COMPLETED', 'COMPENSATED', 'FAILED_COMPENSATION', 'ABORTED') THEN $4 END)
         WHERE id = $1 AND row_version = $2 AND lease_owner = $3
         RETURNING id, ${nowMs}),
       ins AS (
         INSERT INTO ${this.steps} (saga_id, step, kind, status, attempt, started_at, ended_at, error, result)
         SELECT s.id, t.step, t.kind, t.status, t.attempt, t.started_at, t.ended_at, t.error, t.result
         FROM s CROSS JOIN json_to_recordset($10::json)
              AS t(step text, kind text, status text, attempt int, started_at timestamptz,
                   ended_at timestamptz, error text, result jsonb))
       SELECT now_ms FROM s`,
      values: [
        previous.id,
        previous.rowVersion,
        update.owner,
        update.state,
        update.position,
        JSON.stringify(update.data),
        update.error,
        update.attempts,
        update.leaseTtlMs,
        // One JSON array for the step log: pg would otherwise encode eight array literals, one value at a time.
        JSON.stringify(
          update.steps.map((s) => ({
            step: s.step,
            kind: s.kind,
            status: s.status,
            attempt: s.attempt,
            started_at: s.startedAt,
            ended_at: s.endedAt,
            error: s.error,
            result: s.result ?? null,
          })),
        ),
        update.uncertainSteps,
      ],
    });
    if (rows[0] === undefined) return undefined;
    const now = Number(rows[0].now_ms);
    const state = update.state;
    const leased = activeSagaStates.includes(state);
    return {
      ...previous,
      state,
      position: update.position,
      data: update.data,
      error: update.error,
      attempts: update.attempts,
      leaseOwner: leased ? update.owner : null,
      leaseUntil: leased ? new Date(now + update.leaseTtlMs) : null,
      rowVersion: previous.rowVersion + 1,
      updatedAt: new Date(now),
      endedAt: isTerminalSagaState(state) ? new Date(now) : null,
      deadlineInMs: previous.deadline === null ? null : previous.deadline.getTime() - now,
      uncertainSteps: update.uncertainSteps,
      firstEnd: previous.firstEnd ?? (leased ? null : state),
    };
  }

  /** Extends the leases `owner` still holds among `ids`; returns those ids (the others were lost). */
  async heartbeat(
    db: SagaQueryable,
    owner: string,
    ids: readonly string[],
    leaseTtlMs: number,
  ): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const { rows } = await db.query<{ id: string }>({
      name: this.#name("heartbeat"),
      text: `UPDATE ${this.sagas} SET lease_until = now() + $3 * interval '1 millisecond'
       WHERE id = ANY($2::uuid[]) AND lease_owner = $1 AND state IN ('RUNNING', 'COMPENSATING') RETURNING id`,
      values: [owner, ids, leaseTtlMs],
    });
    return new Set(rows.map((row) => row.id));
  }

  /** Gives up `owner`'s leases on `ids` so another orchestrator can claim them at once. */
  async release(db: SagaQueryable, owner: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await db.query(
      `UPDATE ${this.sagas} SET lease_owner = NULL, lease_until = NULL, row_version = row_version + 1
       WHERE id = ANY($2::uuid[]) AND lease_owner = $1`,
      [owner, ids],
    );
  }

  /** One saga, or undefined. */
  async get(db: SagaQueryable, id: string): Promise<SagaRow | undefined> {
    if (!uuidPattern.test(id)) return undefined;
    const { rows } = await db.query(`SELECT ${this.#columns} FROM ${this.sagas} WHERE id = $1`, [id]);
    return rows[0] === undefined ? undefined : toSaga(rows[0]);
  }

  /** The step log of one saga, oldest first. */
  async stepLog(db: SagaQueryable, id: string): Promise<SagaStepRow[]> {
    const { rows } = await db.query(
      `SELECT saga_id, seq, step, kind, status, attempt, started_at, ended_at, error, result
       FROM ${this.steps} WHERE saga_id = $1 ORDER BY seq`,
      [id],
    );
    return rows.map((row) => ({
      sagaId: row.saga_id,
      seq: Number(row.seq),
      step: row.step,
      kind: row.kind,
      status: row.status,
      attempt: row.attempt,
      startedAt: row.started_at,
      endedAt: row.ended_at,
      error: row.error,
      result: row.result,
    }));
  }

  /** Sagas matching `filter`, newest first (default limit 100). */
  async list(db: SagaQueryable, filter: SagaListFilter = {}): Promise<SagaRow[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      values.push(value);
      where.push(sql.replace("?", `$${values.length}`));
    };
    if (filter.type !== undefined) add("type = ?", filter.type);
    if (filter.states !== undefined) add("state = ANY(?::text[])", filter.states);
    if (filter.since !== undefined) add("created_at >= ?", filter.since);
    if (filter.until !== undefined) add("created_at < ?", filter.until);
    values.push(filter.limit ?? 100);
    const { rows } = await db.query(
      `SELECT ${this.#columns} FROM ${this.sagas} ${where.length === 0 ? "" : `WHERE ${where.join(" AND ")}`}
       ORDER BY created_at DESC, id LIMIT $${values.length}`,
      values,
    );
    return rows.map(toSaga);
  }

  /** Active sagas whose type is not in `types`, counted by type. */
  async unknownTypes(db: SagaQueryable, types: readonly string[]): Promise<Map<string, number>> {
    const { rows } = await db.query<{ type: string; n: number }>(
      `SELECT type, count(*)::int AS n FROM ${this.sagas}
       WHERE state IN ('RUNNING', 'COMPENSATING', 'FAILED_COMPENSATION') AND NOT (type = ANY($1::text[])) GROUP BY type`,
      [types],
    );
    return new Map(rows.map((row) => [row.type, row.n]));
  }

  /** FAILED_COMPENSATION sagas counted by type. */
  async failedCompensations(db: SagaQueryable): Promise<Map<string, number>> {
    const { rows } = await db.query<{ type: string; n: number }>(
      `SELECT type, count(*)::int AS n FROM ${this.sagas} WHERE state = 'FAILED_COMPENSATION' GROUP BY type`,
    );
    return new Map(rows.map((row) => [row.type, row.n]));
  }

  /**
   * Operator resume: a FAILED_COMPENSATION saga goes back to COMPENSATING, and an active saga's
   * lease is taken; leased to `owner` (or left for any orchestrator when undefined).
   * Returns the row, or undefined when it is terminal or missing.
   */
  async resume(
    db: SagaQueryable,
    id: string,
    owner: string | undefined,
    leaseTtlMs: number,
  ): Promise<SagaRow | undefined> {
    if (!uuidPattern.test(id)) return undefined;
    const { rows } = await db.query(
      `UPDATE ${this.sagas} SET state = CASE WHEN state = 'FAILED_COMPENSATION' THEN 'COMPENSATING' ELSE state END,
              attempts = 0, lease_owner = $2::text,
              lease_until = CASE WHEN $2::text IS NULL THEN NULL ELSE now() + $3 * interval '1 millisecond' END,
              row_version = row_version + 1, updated_at = now()
       WHERE id = $1 AND state IN ('RUNNING', 'COMPENSATING', 'FAILED_COMPENSATION')
       RETURNING ${this.#columns}`,
      [id, owner ?? null, leaseTtlMs],
    );
    return rows[0] === undefined ? undefined : toSaga(rows[0]);
  }

  /** Operator abort: any non-terminal saga becomes ABORTED (its orchestrator's next write fails). */
  async abort(db: SagaQueryable, id: string, reason: string): Promise<SagaRow | undefined> {
    if (!uuidPattern.test(id)) return undefined;
    const { rows } = await db.query(
      `UPDATE ${this.sagas} SET state = 'ABORTED', error = coalesce($2, error), lease_owner = NULL, lease_until = NULL,
              row_version = row_version + 1, updated_at = now(), ended_at = now(),
              first_end = coalesce(first_end, 'ABORTED')
       WHERE id = $1 AND state IN ('RUNNING', 'COMPENSATING', 'FAILED_COMPENSATION')
       RETURNING ${this.#columns}`,
      [id, reason],
    );
    return rows[0] === undefined ? undefined : toSaga(rows[0]);
  }

  /** Name of a prepared statement of this schema (pg prepares it once per connection). */
  #name(statement: string): string {
    return `flotilla_saga_${statement}_${this.schema}`;
  }

  readonly #columns =
    `id, type, version, state, input, data, position, deadline, error, attempts, lease_owner,
    lease_until, row_version, traceparent, correlation_id, created_at, updated_at, ended_at,
    uncertain_steps, first_end, (extract(epoch FROM deadline - now()) * 1000)::float8 AS deadline_in_ms`;
}

/** The statement's `now()` in epoch milliseconds, the one value a write reads back. */
const nowMs = "(extract(epoch FROM now()) * 1000)::float8 AS now_ms";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toSaga(row: Record<string, unknown>): SagaRow {
  return {
    id: row.id as string,
    type: row.type as string,
    version: row.version as number,
    state: row.state as SagaState,
    input: row.input,
    data: (row.data ?? {}) as Record<string, unknown>,
    position: row.position as number,
    deadline: row.deadline as Date | null,
    error: row.error as string | null,
    attempts: row.attempts as number,
    leaseOwner: row.lease_owner as string | null,
    leaseUntil: row.lease_until as Date | null,
    rowVersion: Number(row.row_version),
    traceparent: row.traceparent as string | null,
    correlationId: row.correlation_id as string | null,
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
    endedAt: row.ended_at as Date | null,
    deadlineInMs: row.deadline_in_ms === null ? null : Number(row.deadline_in_ms),
    uncertainSteps: (row.uncertain_steps ?? []) as string[],
    firstEnd: (row.first_end ?? null) as SagaState | null,
  };
}

function toClaimed(row: Record<string, unknown>): ClaimedSaga {
  return { ...toSaga(row), firstClaim: row.first_claim === true };
}

/** A store on `schema` (default `flotilla_saga`); call {@link SagaStore.install} once at start. */
export function sagaStore(schema?: string): SagaStore {
  return new SagaStore(schema);
}
