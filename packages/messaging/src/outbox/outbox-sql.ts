import { createHash } from "node:crypto";
import { advisoryLockKey } from "@flotilla/service";

/** PostgreSQL's longest identifier and `NOTIFY` channel, in bytes. */
const maxIdentifierBytes = 63;

/** Lower-case letters, digits and `_`, not starting with a digit: safe to quote and to embed in names. */
export const outboxIdentifierPattern: RegExp = /^[a-z_][a-z0-9_]{0,62}$/;

function quote(identifier: string): string {
  return `"${identifier}"`;
}

/**
 * Every statement the outbox and its relay run against one outbox table, built once from the
 * (already validated, see {@link outboxIdentifierPattern}) schema and table names.
 */
export class OutboxSql {
  /** `"schema"."table"`. */
  readonly table: string;
  /** The `LISTEN`/`NOTIFY` channel the insert trigger signals. */
  readonly notifyChannel: string;
  /**
   * The one-row table where the relay says whether it wants a `NOTIFY` (`wake`): only while it is
   * idle. NOTIFY takes a cluster-wide lock at commit that serialises every notifying transaction
   * (it halved the producers' commit rate in the messaging benchmark), so busy producers skip it.
   */
  readonly wakeTable: string;
  /** `$1`: whether the relay wants a `NOTIFY` for the next insert. */
  readonly setWake: string;
  /** The advisory lock that makes one relay the leader. */
  readonly leaseKey: bigint;
  /** The idempotent DDL, one multi-statement string (an implicit transaction under the simple protocol). */
  readonly install: string;
  readonly insert: string;
  /** {@link OutboxSql.insert} for one row: plain parameters, planned once per connection. */
  readonly insertOne: { readonly name: string; readonly text: string };
  /** `$1`: batch size. Only rows of finished transactions, in commit-safe order. */
  readonly selectBatch: string;
  /** `$1`: ids. */
  readonly markSent: string;
  /** `$1`: ids, `$2`: the error. */
  readonly markFailed: string;
  readonly stats: string;
  /** `$1`: retention in milliseconds, `$2`: rows per statement. */
  readonly deleteSent: string;

  constructor(schema: string, table: string) {
    const t = `${quote(schema)}.${quote(table)}`;
    this.table = t;
    const channel = `flotilla.outbox.${schema}.${table}`;
    this.notifyChannel =
      Buffer.byteLength(channel) <= maxIdentifierBytes
        ? channel
        : `flotilla.outbox.${createHash("sha256").update(`${schema}.${table}`).digest("hex").slice(0, 40)}`;
    this.leaseKey = advisoryLockKey(`flotilla.outbox.relay:${schema}.${table}`);
    const installKey = advisoryLockKey(`flotilla.outbox.install:${schema}.${table}`);
    const fn = `${quote(schema)}.${quote(`${table}_notify`)}`;
    const wake = `${quote(schema)}.${quote(`${table}_relay`)}`;
    this.wakeTable = wake;
    this.setWake = `UPDATE ${wake} SET wake = $1`;
    const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;
    this.install = `
SELECT pg_advisory_xact_lock(${installKey}::bigint);
CREATE SCHEMA IF NOT EXISTS ${quote(schema)};
CREATE TABLE IF NOT EXISTS ${t} (
  id uuid PRIMARY KEY,
  aggregatetype text NOT NULL,
  aggregateid text,
  type text NOT NULL,
  payload jsonb,
  topic text NOT NULL,
  headers jsonb NOT NULL DEFAULT '{}',
  txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  position bigserial NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  available_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  last_error text
);
CREATE TABLE IF NOT EXISTS ${wake} (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  wake boolean NOT NULL DEFAULT true
);
INSERT INTO ${wake} (singleton) VALUES (true) ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF EXISTS (SELECT 1 FROM ${wake} WHERE wake) THEN
    PERFORM pg_notify(${literal(this.notifyChannel)}, '');
  END IF;
  RETURN NULL;
END
$fn$;
DO $do$
BEGIN
  -- Checked first because CREATE INDEX / TRIGGER lock the table even when the object exists.
  IF to_regclass(${literal(`${quote(schema)}.${quote(`${table}_unsent`)}`)}) IS NULL THEN
    CREATE INDEX ${quote(`${table}_unsent`)} ON ${t} (txid, position) WHERE sent_at IS NULL;
  END IF;
  IF to_regclass(${literal(`${quote(schema)}.${quote(`${table}_sent`)}`)}) IS NULL THEN
    CREATE INDEX ${quote(`${table}_sent`)} ON ${t} (sent_at) WHERE sent_at IS NOT NULL;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = ${literal(t)}::regclass AND tgname = ${literal(`${table}_notify`)}) THEN
    CREATE TRIGGER ${quote(`${table}_notify`)} AFTER INSERT ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}();
  END IF;
END
$do$;`;
    this.insert = `INSERT INTO ${t} (id, aggregatetype, aggregateid, type, payload, topic, headers, available_at)
SELECT r.id, r.aggregatetype, r.aggregateid, r.type, r.payload::jsonb, r.topic, r.headers::jsonb,
       now() + r.delay_ms * interval '1 millisecond'
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::float8[])
     WITH ORDINALITY AS r(id, aggregatetype, aggregateid, type, payload, topic, headers, delay_ms, ord)
ORDER BY r.ord`;
    this.insertOne = {
      name: `flt_outbox_insert_${createHash("sha256").update(t).digest("hex").slice(0, 16)}`,
      text: `INSERT INTO ${t} (id, aggregatetype, aggregateid, type, payload, topic, headers, available_at)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, now() + $8::float8 * interval '1 millisecond')`,
    };
    // Every transaction below the snapshot's xmin has finished, so no row can later appear before
    // the ones read here: unlike a bare sequence, which a transaction that commits late fills in behind the reader.
    this.selectBatch = `SELECT id, aggregatetype, aggregateid, type, payload, topic, headers,
       GREATEST(0, EXTRACT(EPOCH FROM available_at - now()) * 1000)::float8 AS delay_ms
FROM ${t}
WHERE sent_at IS NULL AND txid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY txid, position
LIMIT $1`;
    this.markSent = `UPDATE ${t} SET sent_at = now(), attempts = attempts + 1 WHERE id = ANY($1::uuid[])`;
    this.markFailed = `UPDATE ${t} SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::uuid[])`;
    this.stats = `SELECT count(*)::int AS depth,
       COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)) * 1000, 0)::float8 AS oldest_ms
FROM ${t} WHERE sent_at IS NULL`;
    this.deleteSent = `DELETE FROM ${t} WHERE id IN (
  SELECT id FROM ${t} WHERE sent_at < now() - $1::float8 * interval '1 millisecond' LIMIT $2)`;
  }
}
