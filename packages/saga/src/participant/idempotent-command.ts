import {
  commandFailed,
  createEnvelope,
  type Envelope,
  type EnvelopeSink,
  type EventData,
  type EventDefinition,
  type EventHandler,
  isEventDefinition,
  isPermanentError,
  type MessageContext,
  PermanentError,
  type Queryable,
} from "@flotilla/messaging";
import { injectContext } from "@flotilla/observability";
import { SagaError, SagaErrorCode } from "../saga-error.js";
import { defaultParticipantTables, type ParticipantTables } from "./participant-tables.js";
import { sagaCompensatesHeader } from "./saga-compensates-header.js";
import { sagaKeyHeader } from "./saga-key-header.js";

/** Options of {@link idempotentCommand}. */
export interface IdempotentCommandOptions {
  /**
   * Where replies are stored. Default {@link defaultParticipantTables}. Give the consumer a
   * `participantInbox` with the same tables, which also installs them.
   */
  readonly tables?: ParticipantTables;
  /**
   * The idempotency key of a command. Default: the {@link sagaKeyHeader} transport header when
   * present (`sagaStepKey(…)` set by the orchestrator), else `message:<envelope id>`.
   */
  readonly key?: (command: Envelope, context: MessageContext) => string;
}

/** A stored reply: the event type and its data. */
interface StoredReply {
  readonly type: string;
  readonly data: unknown;
}

/**
 * What the handler of a compensation command learns about the invocation it undoes (the command
 * carries {@link sagaCompensatesHeader}; `undefined` for any other command).
 */
export interface CompensatedInvocation {
  /** The invocation's idempotency key (the header's value). */
  readonly key: string;
  /**
   * The reply this participant stored for the invocation — a `commandFailed` one when it failed
   * for good — or `undefined` when the invocation never ran here. In that case it is fenced: if it
   * arrives later it is answered with a `commandFailed` reply (code `compensated`) and its handler
   * does not run, so nothing happens after its compensation.
   */
  readonly reply: { readonly type: string; readonly data: unknown } | undefined;
}

/** The `command` of a replies row that fences an invocation compensated before it arrived. */
const fencedCommand = "flotilla.saga.fenced";

const savepoint = "flotilla_saga_command";

/**
 * Declares the handler of a saga participant's command, like `onCommand` of
 * `@flotilla/messaging`, but idempotent per key: the first command with a key runs `handler` in
 * the inbox transaction and stores its reply with the effects (table `saga_participant_replies`);
 * a repeated command — the same envelope id or the same {@link sagaKeyHeader} — is answered with
 * that stored reply, re-sent to its own `replyto` with `correlationid` its own id, and `handler`
 * does not run again. A `PermanentError` (or a reply failing `reply`'s schema) rolls back the
 * handler's effects and is stored and answered as a `commandFailed` reply, so a repeat fails the
 * same way; other errors retry the command as any handler's do, nothing stored.
 *
 * Concurrent commands with one key: the key is claimed (`INSERT … ON CONFLICT DO NOTHING`)
 * before the handler runs, so the second waits for the first transaction and then answers with
 * its reply. Needs a consumer with `db` (the handler's effects and the reply share its
 * transaction); give the consumer `inbox: participantInbox()`, because the plain inbox skips a
 * message id it has seen without running any handler, which would leave a re-sent command
 * unanswered. An `outbox` on the consumer makes the reply exactly once with the effects.
 *
 * Compensations: a command carrying {@link sagaCompensatesHeader} (every compensation
 * `commandStep` sends) gets, as the handler's third argument, what the invocation it undoes
 * answered here — undo by that, not by the data the orchestrator holds, which is missing when the
 * invocation's outcome was uncertain — or `reply: undefined` when the invocation never ran here,
 * which also fences it: arriving later, it is refused (`commandFailed`, code `compensated`).
 *
 * @example
 * ```ts
 * const tables = participantTables();
 * const payments = consumer({
 *   name: "payments",
 *   transport,
 *   db: pool,
 *   inbox: participantInbox({ tables }),
 *   outbox: paymentsOutbox,
 *   handlers: [
 *     idempotentCommand(chargePayment, paymentCharged, async (command, { tx }) => {
 *       const { rows } = await tx!.query("INSERT INTO charges (order_id, amount) VALUES ($1, $2) RETURNING id", [
 *         command.data.orderId,
 *         command.data.amount,
 *       ]);
 *       return { chargeId: rows[0].id };
 *     }, { tables }),
 *   ],
 * });
 * ```
 */
export function idempotentCommand<C extends EventDefinition, R extends EventDefinition>(
  command: C,
  reply: R,
  handler: (
    command: Envelope<EventData<C>>,
    context: MessageContext,
    compensates: CompensatedInvocation | undefined,
  ) => Promise<EventData<R>>,
  options: IdempotentCommandOptions = {},
): EventHandler {
  for (const [what, event] of [
    ["command", command],
    ["reply", reply],
  ] as const) {
    if (!isEventDefinition(event)) {
      throw new SagaError(
        SagaErrorCode.OptionsInvalid,
        `idempotentCommand: ${what} must be a defineEvent() definition`,
      );
    }
  }
  if (typeof handler !== "function") {
    throw new SagaError(
      SagaErrorCode.OptionsInvalid,
      `idempotentCommand: the handler of "${command.type}" must be a function, got ${typeof handler}`,
    );
  }
  if (options.key !== undefined && typeof options.key !== "function") {
    throw new SagaError(SagaErrorCode.OptionsInvalid, "idempotentCommand: options.key must be a function");
  }
  const tables = options.tables ?? defaultParticipantTables;
  const keyOf = options.key ?? defaultKey;

  async function first(tx: Queryable, envelope: Envelope, context: MessageContext): Promise<StoredReply> {
    const compensates = await compensatedInvocation(tx, envelope, context);
    await tx.query(`SAVEPOINT ${savepoint}`);
    try {
      const data = await handler(envelope as Envelope<EventData<C>>, context, compensates);
      const stored = { type: reply.type, data: replyData(reply, command, data) };
      await tx.query(`RELEASE SAVEPOINT ${savepoint}`);
      return stored;
    } catch (error) {
      if (!isPermanentError(error)) throw error;
      await tx.query(`ROLLBACK TO SAVEPOINT ${savepoint}`);
      context.logger.warn(
        { command: command.type, err: error },
        "command failed for good; the failure is stored",
      );
      return {
        type: commandFailed.type,
        data: { command: command.type, code: "permanent", message: error.message },
      };
    }
  }

  return {
    event: command,
    async run(envelope, context, sink) {
      const { tx } = context;
      if (tx === undefined) {
        throw new PermanentError(
          `idempotentCommand "${command.type}" needs a consumer with a db: its reply is stored in the inbox transaction`,
        );
      }
      const key = keyOf(envelope, context);
      if (typeof key !== "string" || key === "") {
        throw new PermanentError(
          `idempotentCommand "${command.type}": the key of message ${envelope.id} is empty`,
        );
      }
      const claimed = await tx.query(
        `INSERT INTO ${tables.replies} (key, message_id, command) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING key`,
        [key, envelope.id, command.type],
      );
      let stored: StoredReply;
      if (claimed.rowCount === 0) {
        stored = await storedReply(tx, key, command.type);
        context.logger.debug(
          { command: command.type, key },
          "repeated command: answering with the stored reply",
        );
      } else {
        stored = await first(tx, envelope, context);
        await tx.query(`UPDATE ${tables.replies} SET reply = $2::jsonb WHERE key = $1`, [
          key,
          JSON.stringify(stored),
        ]);
      }
      if (envelope.replyto === undefined) {
        context.logger.warn({ command: command.type, key }, "command without replyto: handled, not answered");
        return;
      }
      await answer(sink, envelope, stored);
    },
    async deadLettered(envelope, reason, sink) {
      if (envelope.replyto === undefined) return;
      await answer(sink, envelope, {
        type: commandFailed.type,
        data: { command: command.type, code: reason.code, message: reason.message },
      });
    },
  };

  /**
   * For a compensation command: fences the invocation it undoes when that has not run here (a
   * claim of its key with a stored refusal, which waits for an invocation committing right now),
   * else reads what the invocation answered.
   */
  async function compensatedInvocation(
    tx: Queryable,
    envelope: Envelope,
    context: MessageContext,
  ): Promise<CompensatedInvocation | undefined> {
    const key = context.message.headers?.[sagaCompensatesHeader];
    if (key === undefined || key === "") return undefined;
    const refusal: StoredReply = {
      type: commandFailed.type,
      data: {
        command: "(compensated)",
        code: "compensated",
        message: `the invocation ${key} was compensated (by "${command.type}" ${envelope.id}) before it arrived`,
      },
    };
    const fenced = await tx.query(
      `INSERT INTO ${tables.replies} (key, message_id, command, reply) VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING RETURNING key`,
      [key, envelope.id, fencedCommand, JSON.stringify(refusal)],
    );
    if (fenced.rowCount === 1) {
      context.logger.info(
        { command: command.type, compensates: key },
        "compensation before its invocation: the invocation is fenced",
      );
      return { key, reply: undefined };
    }
    const { rows } = await tx.query(`SELECT command, reply FROM ${tables.replies} WHERE key = $1`, [key]);
    const row = rows[0] as { command: string; reply: StoredReply | null } | undefined;
    return {
      key,
      reply: row === undefined || row.command === fencedCommand ? undefined : (row.reply ?? undefined),
    };
  }

  async function storedReply(tx: Queryable, key: string, type: string): Promise<StoredReply> {
    const { rows } = await tx.query(`SELECT command, reply FROM ${tables.replies} WHERE key = $1`, [key]);
    const row = rows[0] as { command: string; reply: StoredReply | null } | undefined;
    if (row?.command === fencedCommand && row.reply !== null) return row.reply;
    if (row?.command !== type) {
      throw new PermanentError(
        `idempotency key "${key}" was first used by a "${row?.command}" command, not "${type}": a key must name one call`,
      );
    }
    if (row.reply === null) {
      // Only a claim made earlier in this same transaction and not yet answered gets here.
      throw new PermanentError(`idempotency key "${key}" is claimed but has no reply`);
    }
    return row.reply;
  }
}

function defaultKey(command: Envelope, context: MessageContext): string {
  return context.message.headers?.[sagaKeyHeader] ?? `message:${command.id}`;
}

function replyData(reply: EventDefinition, command: EventDefinition, data: unknown): unknown {
  const parsed = reply.schema.safeParse(data);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map(
    (issue) => `${issue.path.length === 0 ? "(data)" : issue.path.map(String).join(".")}: ${issue.message}`,
  );
  throw new PermanentError(
    `the handler of "${command.type}" returned a "${reply.type}" reply that fails its schema: ${issues.join("; ")}`,
  );
}

async function answer(sink: EnvelopeSink, command: Envelope, stored: StoredReply): Promise<void> {
  const trace = injectContext<Record<string, string>>({});
  const envelope = createEnvelope({
    type: stored.type,
    source: sink.source,
    data: stored.data,
    correlationid: command.id,
    causationid: command.id,
    ...(trace.traceparent === undefined ? {} : { traceparent: trace.traceparent }),
    ...(trace.tracestate === undefined ? {} : { tracestate: trace.tracestate }),
  });
  await sink.publish(envelope, command.replyto!);
}
