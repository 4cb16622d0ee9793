import { advisoryLockKey } from "@flotilla/service";
import type pg from "pg";
import type { DeadLetter, DeadLetterCode, OutgoingMessage } from "../../transport/transport.js";

/** A message row claimed for one delivery; `attempts` doubles as the fencing token of the claim. */
export interface ClaimedRow {
  readonly seq: string;
  readonly id: string;
  readonly topic: string;
  readonly key: string | null;
  readonly headers: Record<string, string> | null;
  readonly body: Buffer;
  readonly attempts: number;
}

/** The claim a settlement refers to: the row and the attempt that claimed it. */
export interface ClaimToken {
  readonly seq: string;
  readonly attempts: number;
}

/** A subscription pattern as stored: a literal topic (`regex` null) or a compiled pattern. */
export interface StoredPattern {
  readonly pattern: string;
  readonly regex: string | undefined;
}

interface DeadLetterRow {
  id: string;
  queue: string;
  message_id: string;
  topic: string;
  key: string | null;
  headers: Record<string, string> | null;
  body: Buffer;
  attempts: number;
  reason_code: string;
  reason_message: string;
  dead_lettered_at: Date;
}

/**
 * Every SQL statement of the PostgreSQL transport over the tables of one schema: `subscriptions`
 * (queue → topic patterns; publishing fans out to every queue with a matching pattern),
 * `messages` (one row per message per queue) and `dead_letters`. Each operation is one statement,
 * so one round trip and one commit, whatever the batch size; the hot ones are named prepared
 * statements. A row is claimable when its `visible_at` has passed and, when it has a key, no
 * earlier row of the same queue and key exists; a claim pushes `visible_at` to the end of the
 * visibility timeout and counts the attempt, and settlements only touch a row still held by that
 * attempt, so a consumer whose claim ran out cannot settle the message under its next consumer.
 */
export class BusStore {
  /** The LISTEN/NOTIFY channel: the schema name. Payload `queue`, or `queue@ms` for a delayed message. */
  readonly channel: string;
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #sql: ReturnType<typeof statements>;

  constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#schema = schema;
    this.channel = schema;
    this.#sql = statements(`"${schema}"`);
  }

  /**
   * Creates the schema, tables and indexes when missing. Processes starting together serialize on
   * a transaction-level advisory lock, since concurrent `CREATE … IF NOT EXISTS` can still collide.
   */
  async install(): Promise<void> {
    const lock = advisoryLockKey(`flotilla.bus:${this.#schema}`);
    // A multi-statement simple query runs as one implicit transaction, which holds the lock throughout.
    await this.#pool.query(`SELECT pg_advisory_xact_lock(${lock.toString()}); ${this.#sql.install}`);
  }

  /** Records the queue's patterns; later publishes fan out to it. */
  async subscribe(queue: string, patterns: readonly StoredPattern[]): Promise<void> {
    await this.#pool.query(this.#sql.subscribe, [
      queue,
      patterns.map((p) => p.pattern),
      patterns.map((p) => p.regex ?? null),
    ]);
  }

  /** Inserts one row per message per matching queue and notifies those queues, in one statement. */
  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    const n = messages.length;
    const ids = new Array<string>(n);
    const topics = new Array<string>(n);
    const keys = new Array<string | null>(n);
    const headers = new Array<string | null>(n);
    const bodies = new Array<Uint8Array>(n);
    const delays = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const m = messages[i]!;
      ids[i] = m.id;
      topics[i] = m.topic;
      keys[i] = m.key ?? null;
      headers[i] = m.headers === undefined ? null : JSON.stringify(m.headers);
      bodies[i] = m.body;
      delays[i] = Math.ceil(m.delayMs ?? 0);
    }
    await this.#pool.query({
      name: `flt_bus_publish:${this.#schema}`,
      text: this.#sql.publish,
      values: [ids, topics, keys, headers, bodies, delays, this.channel],
    });
  }

  /**
   * Claims up to `limit` claimable messages of `queue` for `visibilityMs`, oldest first, counting
   * the attempt; returns them in queue order.
   */
  async claim(queue: string, limit: number, visibilityMs: number): Promise<ClaimedRow[]> {
    const { rows } = await this.#pool.query<ClaimedRow>({
      name: `flt_bus_claim:${this.#schema}`,
      text: this.#sql.claim,
      values: [queue, limit, visibilityMs],
    });
    if (rows.length > 1) rows.sort((a, b) => Number(a.seq) - Number(b.seq));
    return rows;
  }

  /** Deletes the messages of these claims; returns how many were still held by them. */
  async ack(tokens: readonly ClaimToken[]): Promise<number> {
    const result = await this.#pool.query({
      name: `flt_bus_ack:${this.#schema}`,
      text: this.#sql.ack,
      values: [tokens.map((t) => t.seq), tokens.map((t) => t.attempts)],
    });
    return result.rowCount ?? 0;
  }

  /** Makes the claimed message visible again after `delayMs`; false when the claim was lost. */
  async retry(token: ClaimToken, delayMs: number, error: string): Promise<boolean> {
    const result = await this.#pool.query({
      name: `flt_bus_retry:${this.#schema}`,
      text: this.#sql.retry,
      values: [token.seq, token.attempts, Math.ceil(delayMs), error],
    });
    return result.rowCount === 1;
  }

  /** Moves the claimed message to `dead_letters` in one statement; false when the claim was lost. */
  async deadLetter(token: ClaimToken, code: DeadLetterCode, message: string): Promise<boolean> {
    const result = await this.#pool.query({
      name: `flt_bus_dead_letter:${this.#schema}`,
      text: this.#sql.deadLetter,
      values: [token.seq, token.attempts, code, message],
    });
    return result.rowCount === 1;
  }

  /** Pushes the visibility of these claims to `visibilityMs` from now; returns the seqs still held. */
  async extend(tokens: readonly ClaimToken[], visibilityMs: number): Promise<Set<string>> {
    const { rows } = await this.#pool.query<{ seq: string }>({
      name: `flt_bus_extend:${this.#schema}`,
      text: this.#sql.extend,
      values: [tokens.map((t) => t.seq), tokens.map((t) => t.attempts), visibilityMs],
    });
    return new Set(rows.map((r) => r.seq));
  }

  /**
   * Gives up these claims: the messages are claimable again at once. With `uncount`, the claim's
   * attempt is taken back too (for messages claimed but never handed to a handler).
   */
  async release(tokens: readonly ClaimToken[], uncount: boolean): Promise<void> {
    await this.#pool.query(this.#sql.release, [
      tokens.map((t) => t.seq),
      tokens.map((t) => t.attempts),
      uncount ? 1 : 0,
    ]);
  }

  /** Dead letters, oldest first, optionally of one queue. */
  async listDeadLetters(queue: string | undefined, limit: number): Promise<DeadLetter[]> {
    const { rows } = await this.#pool.query<DeadLetterRow>(this.#sql.listDeadLetters, [queue ?? null, limit]);
    return rows.map(toDeadLetter);
  }

  async getDeadLetter(id: string): Promise<DeadLetter | undefined> {
    const { rows } = await this.#pool.query<DeadLetterRow>(this.#sql.getDeadLetter, [id]);
    return rows[0] === undefined ? undefined : toDeadLetter(rows[0]);
  }

  /**
   * Moves the selected dead letters back into their queues as new messages (attempts 0) and
   * notifies those queues, in one statement; returns how many moved.
   */
  async replayDeadLetters(selection: { ids: readonly string[] } | { queue: string }): Promise<number> {
    const [text, value] =
      "ids" in selection ? [this.#sql.replayIds, selection.ids] : [this.#sql.replayQueue, selection.queue];
    const { rows } = await this.#pool.query<{ n: number }>(text, [value, this.channel]);
    return rows[0]?.n ?? 0;
  }

  /** Deletes the selected dead letters; returns how many. */
  async purgeDeadLetters(selection: { ids: readonly string[] } | { queue: string }): Promise<number> {
    const [text, value] =
      "ids" in selection ? [this.#sql.purgeIds, selection.ids] : [this.#sql.purgeQueue, selection.queue];
    const result = await this.#pool.query(text, [value]);
    return result.rowCount ?? 0;
  }
}

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: row.id,
    queue: row.queue,
    message: {
      id: row.message_id,
      topic: row.topic,
      ...(row.key === null ? {} : { key: row.key }),
      ...(row.headers === null ? {} : { headers: row.headers }),
      body: row.body,
    },
    reason: { code: row.reason_code as DeadLetterCode, message: row.reason_message },
    attempts: row.attempts,
    deadLetteredAt: row.dead_lettered_at,
  };
}

// Claims, acks, retries, heartbeats and releases commit without waiting for the WAL flush: a
// database crash can only lose the last few hundred milliseconds of them, which shows up as
// redeliveries (at-least-once holds), and it makes each of them about ten times cheaper.
const relaxedCommit = "relaxed AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true))";

function statements(s: string) {
  const deadLetterColumns = `id::text, queue, message_id, topic, key, headers, body, attempts, reason_code,
    reason_message, dead_lettered_at`;
  const replay = (where: string) => `
    WITH moved AS (
      DELETE FROM ${s}.dead_letters WHERE ${where} RETURNING *
    ), inserted AS (
      INSERT INTO ${s}.messages (queue, id, topic, key, headers, body, visible_at)
      SELECT queue, message_id, topic, key, headers, body, now() FROM moved ORDER BY moved.id
      RETURNING queue
    )
    SELECT count(*)::int AS n, (SELECT count(*) FROM (SELECT pg_notify($2, queue) FROM inserted GROUP BY queue) q)
    FROM inserted`;
  return {
    install: `
      CREATE SCHEMA IF NOT EXISTS ${s};
      CREATE TABLE IF NOT EXISTS ${s}.subscriptions (
        queue text NOT NULL,
        pattern text NOT NULL,
        regex text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (queue, pattern)
      );
      CREATE TABLE IF NOT EXISTS ${s}.messages (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        queue text NOT NULL,
        id text NOT NULL,
        topic text NOT NULL,
        key text,
        headers jsonb,
        body bytea NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        visible_at timestamptz NOT NULL,
        last_error text,
        enqueued_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX IF NOT EXISTS messages_claimable ON ${s}.messages (queue, visible_at, seq);
      CREATE INDEX IF NOT EXISTS messages_key_order ON ${s}.messages (queue, key, seq) WHERE key IS NOT NULL;
      CREATE TABLE IF NOT EXISTS ${s}.dead_letters (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        queue text NOT NULL,
        message_id text NOT NULL,
        topic text NOT NULL,
        key text,
        headers jsonb,
        body bytea NOT NULL,
        attempts integer NOT NULL,
        reason_code text NOT NULL,
        reason_message text NOT NULL,
        enqueued_at timestamptz NOT NULL,
        dead_lettered_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX IF NOT EXISTS dead_letters_queue ON ${s}.dead_letters (queue, id);`,
    subscribe: `
      INSERT INTO ${s}.subscriptions (queue, pattern, regex)
      SELECT $1, p.pattern, p.regex FROM unnest($2::text[], $3::text[]) AS p(pattern, regex)
      ON CONFLICT (queue, pattern) DO NOTHING`,
    publish: `
      WITH input AS (
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::bigint[])
          WITH ORDINALITY AS t(id, topic, key, headers, body, delay_ms, ord)
      ), targets AS (
        SELECT DISTINCT i.ord, sub.queue
        FROM input i JOIN ${s}.subscriptions sub
          ON CASE WHEN sub.regex IS NULL THEN i.topic = sub.pattern ELSE i.topic ~ sub.regex END
      ), inserted AS (
        INSERT INTO ${s}.messages (queue, id, topic, key, headers, body, visible_at)
        SELECT t.queue, i.id, i.topic, i.key, i.headers::jsonb, i.body,
          now() + i.delay_ms * interval '1 millisecond'
        FROM targets t JOIN input i ON i.ord = t.ord
        ORDER BY i.ord, t.queue
      ), wake AS (
        SELECT t.queue, bool_or(i.delay_ms = 0) AS now, min(i.delay_ms) FILTER (WHERE i.delay_ms > 0) AS later
        FROM targets t JOIN input i ON i.ord = t.ord GROUP BY t.queue
      )
      SELECT pg_notify($7, wakeup.payload) FROM (
        SELECT queue AS payload FROM wake WHERE now
        UNION ALL SELECT queue || '@' || later FROM wake WHERE later IS NOT NULL
      ) wakeup`,
    claim: `
      WITH ${relaxedCommit}, next AS (
        SELECT m.seq FROM ${s}.messages m
        WHERE m.queue = $1 AND m.visible_at <= now()
          AND (m.key IS NULL OR NOT EXISTS (
            SELECT 1 FROM ${s}.messages p WHERE p.queue = m.queue AND p.key = m.key AND p.seq < m.seq))
        ORDER BY m.visible_at, m.seq
        LIMIT $2
        FOR UPDATE SKIP LOCKED
      )
      UPDATE ${s}.messages m
      SET attempts = m.attempts + 1, visible_at = now() + $3::bigint * interval '1 millisecond'
      FROM next, relaxed WHERE m.seq = next.seq
      RETURNING m.seq::text, m.id, m.topic, m.key, m.headers, m.body, m.attempts`,
    ack: `
      WITH ${relaxedCommit}
      DELETE FROM ${s}.messages m USING unnest($1::bigint[], $2::int[]) AS a(seq, attempts), relaxed
      WHERE m.seq = a.seq AND m.attempts = a.attempts`,
    retry: `
      WITH ${relaxedCommit}
      UPDATE ${s}.messages SET visible_at = now() + $3::bigint * interval '1 millisecond', last_error = $4
      FROM relaxed WHERE seq = $1 AND attempts = $2`,
    deadLetter: `
      WITH moved AS (
        DELETE FROM ${s}.messages WHERE seq = $1 AND attempts = $2 RETURNING *
      )
      INSERT INTO ${s}.dead_letters
        (queue, message_id, topic, key, headers, body, attempts, reason_code, reason_message, enqueued_at)
      SELECT queue, id, topic, key, headers, body, attempts, $3, $4, enqueued_at FROM moved`,
    extend: `
      WITH ${relaxedCommit}
      UPDATE ${s}.messages m SET visible_at = now() + $3::bigint * interval '1 millisecond'
      FROM unnest($1::bigint[], $2::int[]) AS h(seq, attempts), relaxed
      WHERE m.seq = h.seq AND m.attempts = h.attempts
      RETURNING m.seq::text`,
    release: `
      WITH ${relaxedCommit}
      UPDATE ${s}.messages m SET visible_at = now(), attempts = m.attempts - $3::int
      FROM unnest($1::bigint[], $2::int[]) AS r(seq, attempts), relaxed
      WHERE m.seq = r.seq AND m.attempts = r.attempts`,
    listDeadLetters: `
      SELECT ${deadLetterColumns} FROM ${s}.dead_letters
      WHERE $1::text IS NULL OR queue = $1 ORDER BY id LIMIT $2`,
    getDeadLetter: `SELECT ${deadLetterColumns} FROM ${s}.dead_letters WHERE id = $1`,
    replayIds: replay("id = ANY($1::bigint[])"),
    replayQueue: replay("queue = $1"),
    purgeIds: `DELETE FROM ${s}.dead_letters WHERE id = ANY($1::bigint[])`,
    purgeQueue: `DELETE FROM ${s}.dead_letters WHERE queue = $1`,
  };
}
