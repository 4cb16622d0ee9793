import { injectContext } from "@flotilla/observability";
import type { EnvelopeSink } from "../consumer/envelope-sink.js";
import type { EventHandler } from "../consumer/event-handler.js";
import type { MessageContext } from "../consumer/message-context.js";
import type { EventData, EventDefinition } from "../envelope/define-event.js";
import { createEnvelope, type Envelope } from "../envelope/envelope.js";
import { isEventDefinition } from "../envelope/is-event-definition.js";
import {
  isPermanentError,
  MessagingError,
  MessagingErrorCode,
  PermanentError,
} from "../errors/messaging-error.js";
import { assertTopic } from "../transport/topic.js";
import { commandFailed } from "./command-failed.js";

const savepoint = "flotilla_command";

/**
 * Declares the handler of a command for a consumer: what it returns is validated with `reply`'s
 * schema and sent as a `reply` event to the command's `replyto` topic, with `correlationid` (and
 * `causationid`) the command's id. When the consumer has an outbox the reply is written in the
 * inbox transaction, exactly once with the handler's effects; otherwise it is published after the
 * commit. A `PermanentError` from the handler rolls back its effects and answers with a
 * {@link commandFailed} reply (the command counts as handled); other errors retry the command as
 * any handler's do, and a command dead-lettered for any reason is answered with a
 * {@link commandFailed} reply too, so the requester need not wait for its timeout. A command
 * without `replyto` is handled and not answered.
 *
 * @example
 * ```ts
 * const handlers = [
 *   onCommand(reserveStock, stockReserved, async (command, { tx }) => {
 *     const { rows } = await tx!.query("UPDATE stock SET reserved = reserved + $1 … RETURNING id", […]);
 *     if (rows.length === 0) throw new PermanentError(`no stock for ${command.data.sku}`);
 *     return { reservationId: rows[0].id };
 *   }),
 * ];
 * ```
 */
export function onCommand<C extends EventDefinition, R extends EventDefinition>(
  command: C,
  reply: R,
  handler: (command: Envelope<EventData<C>>, context: MessageContext) => Promise<EventData<R>>,
): EventHandler {
  for (const [what, event] of [
    ["command", command],
    ["reply", reply],
  ] as const) {
    if (!isEventDefinition(event)) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `onCommand: ${what} must be a defineEvent() definition`,
      );
    }
  }
  if (typeof handler !== "function") {
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      `onCommand: the handler of "${command.type}" must be a function, got ${typeof handler}`,
    );
  }
  return {
    event: command,
    async run(envelope, context, sink) {
      const { tx } = context;
      if (envelope.replyto === undefined) {
        context.logger.warn({ command: envelope.type }, "command without replyto: handled, not answered");
        await handler(envelope as Envelope<EventData<C>>, context);
        return;
      }
      try {
        assertTopic(envelope.replyto, "replyto");
      } catch (error) {
        throw new PermanentError((error as Error).message, { cause: error });
      }
      if (tx !== undefined) await tx.query(`SAVEPOINT ${savepoint}`);
      let data: unknown;
      try {
        data = replyData(reply, command, await handler(envelope as Envelope<EventData<C>>, context));
      } catch (error) {
        if (!isPermanentError(error)) throw error;
        if (tx !== undefined) await tx.query(`ROLLBACK TO SAVEPOINT ${savepoint}`);
        await answer(sink, envelope, commandFailed.type, {
          command: command.type,
          code: "permanent",
          message: error.message,
        });
        return;
      }
      await answer(sink, envelope, reply.type, data);
    },
    async deadLettered(envelope, reason, sink) {
      if (envelope.replyto === undefined) return;
      await answer(sink, envelope, commandFailed.type, {
        command: command.type,
        code: reason.code,
        message: reason.message,
      });
    },
  };
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

async function answer(sink: EnvelopeSink, command: Envelope, type: string, data: unknown): Promise<void> {
  const trace = injectContext<Record<string, string>>({});
  const envelope = createEnvelope({
    type,
    source: sink.source,
    data,
    correlationid: command.id,
    causationid: command.id,
    ...(trace.traceparent === undefined ? {} : { traceparent: trace.traceparent }),
    ...(trace.tracestate === undefined ? {} : { tracestate: trace.tracestate }),
  });
  await sink.publish(envelope, command.replyto!);
}
