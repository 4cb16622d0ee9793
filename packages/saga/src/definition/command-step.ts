import {
  type CommandRequester,
  type Envelope,
  type EventData,
  type EventDefinition,
  isEventDefinition,
  isMessagingError,
  MessagingErrorCode,
} from "@flotilla/messaging";
import type { Duration } from "@flotilla/resilience";
import { sagaCompensatesHeader } from "../participant/saga-compensates-header.js";
import { sagaKeyHeader } from "../participant/saga-key-header.js";
import { SagaError, SagaErrorCode } from "../saga-error.js";
import { type StepKind, sagaStepKey, sagaStepMessageId } from "../saga-step-key.js";
import type { CompensateContext, StepContext, StepOptions } from "./step-options.js";

/** What a command step needs of a `CommandRequester`: its `send`. */
export type CommandSender = Pick<CommandRequester, "send">;

/** Options of {@link CommandStep.compensateWith}. */
export interface CompensateWithOptions {
  /** The reply event expected; without it any reply but a failure counts as done. */
  readonly reply?: EventDefinition;
  /** How long to wait for the reply. Default: the requester's timeout. */
  readonly timeout?: Duration;
}

/** The compensation of a command step, sent over messaging: `command` with `data(ctx)`. */
export interface CommandCompensation<Input, Data, Result, C extends EventDefinition = EventDefinition>
  extends CompensateWithOptions {
  readonly command: C;
  /** The compensation command's data; `ctx.result` is what the invocation's reply carried. */
  readonly data: (ctx: CompensateContext<Input, Data, Result>) => EventData<C>;
}

/** Options of {@link commandStep}. */
export interface CommandStepOptions<
  R extends EventDefinition,
  Input = unknown,
  Data = unknown,
  K extends EventDefinition = EventDefinition,
> {
  /** The reply event expected; its `data` (validated by its schema) is the step's result. */
  readonly reply: R;
  /** How long to wait for the reply. Default: the requester's timeout. */
  readonly timeout?: Duration;
  /**
   * Compensates the step with a command over messaging (like {@link CommandStep.compensateWith}).
   * Given here, inside `.step(...)`, its `ctx` is typed from the saga. Default: no compensation.
   */
  readonly compensateWith?: CommandCompensation<Input, Data, EventData<R>, K>;
}

type Send = (ctx: StepContext<unknown, unknown>, kind: StepKind, data: unknown) => Promise<Envelope<unknown>>;

/**
 * A saga step whose invocation (and optionally compensation) is a command sent over messaging:
 * build it with {@link commandStep}. It is a plain `StepOptions` (`invoke` and, once given,
 * `compensate`), so it goes straight into `.step(...)`; spread it to add `retry`, `timeout` or
 * `result` (`{ ...commandStep(...), retry: { maxAttempts: 5 } }`).
 */
export class CommandStep<Input, Data, Result> implements StepOptions<Input, Data, Result> {
  readonly invoke: (ctx: StepContext<Input, Data>) => Promise<Result>;
  readonly compensate?: (ctx: CompensateContext<Input, Data, Result>) => Promise<unknown>;
  readonly #requester: CommandSender;

  /** Use {@link commandStep}. */
  constructor(
    requester: CommandSender,
    invoke: (ctx: StepContext<Input, Data>) => Promise<Result>,
    compensate?: (ctx: CompensateContext<Input, Data, Result>) => Promise<unknown>,
  ) {
    this.#requester = requester;
    this.invoke = invoke;
    if (compensate !== undefined) this.compensate = compensate;
  }

  /**
   * The same step, compensated by sending `command` with `data(ctx)` (`ctx.result` is what the
   * invocation's reply carried) and waiting for its reply. Chained onto `commandStep(...)` inside
   * `.step(...)`, TypeScript no longer infers the saga's types for `ctx`: there, prefer the
   * `compensateWith` option of {@link commandStep}. The command's envelope id is
   * `sagaStepMessageId(sagaId, step, "compensate")` and its `flotilla-saga-key` header
   * `sagaStepKey(sagaId, step, "compensate")`, so a repeated compensation is answered once. It
   * also carries `flotilla-saga-compensates` (the invocation's key): `ctx.result` is `undefined`
   * when the invocation's outcome was uncertain, and an `idempotentCommand` participant then hands
   * its handler what the invocation answered there, or fences an invocation still on its way.
   */
  compensateWith<C extends EventDefinition>(
    command: C,
    data: (ctx: CompensateContext<Input, Data, Result>) => EventData<C>,
    options: CompensateWithOptions = {},
  ): CommandStep<Input, Data, Result> {
    if (typeof data !== "function") {
      throw new SagaError(
        SagaErrorCode.DefinitionInvalid,
        `compensateWith("${String(command?.type)}"): data must be a function of the step context`,
      );
    }
    const send = sender(this.#requester, command, options.reply, options.timeout);
    return new CommandStep(this.#requester, this.invoke, async (ctx) => {
      const base = ctx as unknown as StepContext<unknown, unknown>;
      await send(base, "compensate", data(ctx));
    });
  }
}

/**
 * A step that sends `command` with `data(ctx)` through `requester` and returns the data of the
 * `reply` event as its result. The command's envelope id is `sagaStepMessageId(sagaId, step,
 * "invoke")` and it carries the step's idempotency key in the `flotilla-saga-key` header, so a
 * command re-sent after a crash or a retry is recognised by the participant (`idempotentCommand`
 * with `participantInbox`), which answers with its stored reply instead of acting again. Its
 * `correlationid` is the saga id.
 *
 * Failures: a `flotilla.command-failed` reply, or a reply that is not `reply` or fails its schema,
 * is a permanent step failure (`FLT_SAGA_COMMAND_FAILED` with the participant's message; the
 * participant would answer a retry the same way); `data(ctx)` failing the command's schema is
 * permanent too. No reply within `timeout` (`FLT_SAGA_STEP_TIMEOUT`) and a failed publish are
 * retried under the step's retry policy, with the same id.
 *
 * @param requester - a started or unstarted `commandRequester(...)` (its reply topic must be unique to this process).
 * @param command - the command event (its `topic` is where it is published).
 * @param data - the command's data, from the step context.
 * @param options - `reply` (required), `timeout` (default: the requester's) and `compensateWith`
 *   (default none: the step is not compensated).
 * @example
 * ```ts
 * const orderSaga = defineSaga({ type: "order.place", input: orderInput })
 *   .step(
 *     "payment",
 *     commandStep(requester, chargePayment, (ctx) => ({ orderId: ctx.input.orderId, amount: ctx.input.amount }), {
 *       reply: paymentCharged,
 *       timeout: "10s",
 *       // ctx.result is undefined when the charge's outcome was uncertain: refund by order, and
 *       // let the participant find its charge through the invocation it is handed.
 *       compensateWith: { command: refundPayment, data: (ctx) => ({ orderId: ctx.input.orderId }) },
 *     }),
 *   )
 *   .step("inventory", { invoke: (ctx) => reserve(ctx.data.payment.chargeId) })
 *   .build();
 * ```
 */
export function commandStep<
  Input,
  Data,
  C extends EventDefinition,
  R extends EventDefinition,
  K extends EventDefinition = EventDefinition,
>(
  requester: CommandSender,
  command: C,
  data: (ctx: StepContext<Input, Data>) => EventData<C>,
  options: CommandStepOptions<R, Input, Data, K>,
): CommandStep<Input, Data, EventData<R>> {
  if (typeof requester?.send !== "function") {
    throw new SagaError(
      SagaErrorCode.DefinitionInvalid,
      "commandStep: requester must be a commandRequester(...) (an object with send())",
    );
  }
  if (typeof data !== "function") {
    throw new SagaError(
      SagaErrorCode.DefinitionInvalid,
      `commandStep("${String(command?.type)}"): data must be a function of the step context`,
    );
  }
  if (typeof options?.reply?.type !== "string") {
    throw new SagaError(
      SagaErrorCode.DefinitionInvalid,
      `commandStep("${String(command?.type)}"): options.reply must be a defineEvent() definition`,
    );
  }
  const send = sender(requester, command, options.reply, options.timeout);
  const step = new CommandStep<Input, Data, EventData<R>>(requester, async (ctx) => {
    const reply = await send(ctx as StepContext<unknown, unknown>, "invoke", data(ctx));
    return reply.data as EventData<R>;
  });
  const compensation = options.compensateWith;
  if (compensation === undefined) return step;
  const { command: compensate, data: compensateData, ...compensateOptions } = compensation;
  return step.compensateWith(compensate, compensateData, compensateOptions);
}

/**
 * Sends `command` for one side of a step. A send for an id whose reply is still awaited in this
 * process (the saga resumed here while its first attempt waited) joins that wait instead of
 * sending again, which the requester would refuse.
 */
function sender(
  requester: CommandSender,
  command: EventDefinition,
  reply: EventDefinition | undefined,
  timeout: Duration | undefined,
): Send {
  if (!isEventDefinition(command)) {
    throw new SagaError(
      SagaErrorCode.DefinitionInvalid,
      "a command step's command must be a defineEvent() definition",
    );
  }
  const inFlight = new Map<string, Promise<Envelope<unknown>>>();
  const send: Send = (ctx, kind, data) => {
    const id = sagaStepMessageId(ctx.sagaId, ctx.step, kind);
    const waiting = inFlight.get(id);
    if (waiting !== undefined) return waiting;
    const options = {
      id,
      headers:
        kind === "compensate"
          ? {
              [sagaKeyHeader]: ctx.idempotencyKey,
              [sagaCompensatesHeader]: sagaStepKey(ctx.sagaId, ctx.step, "invoke"),
            }
          : { [sagaKeyHeader]: ctx.idempotencyKey },
      correlationId: ctx.sagaId,
      ...(timeout === undefined ? {} : { timeout }),
    };
    const sent = (
      reply === undefined
        ? requester.send(command, data as never, options)
        : requester.send(command, data as never, { ...options, reply })
    )
      .catch((error: unknown) => {
        throw stepError(error, ctx, kind, command);
      })
      .finally(() => inFlight.delete(id));
    inFlight.set(id, sent);
    return sent;
  };
  return send;
}

function stepError(
  error: unknown,
  ctx: StepContext<unknown, unknown>,
  kind: StepKind,
  command: EventDefinition,
): unknown {
  const details = { sagaId: ctx.sagaId, sagaType: ctx.sagaType, step: ctx.step };
  const what = `step "${ctx.step}" (${kind}): command "${command.type}"`;
  if (
    isMessagingError(error, MessagingErrorCode.CommandFailed) ||
    isMessagingError(error, MessagingErrorCode.PayloadInvalid) ||
    isMessagingError(error, MessagingErrorCode.MessageTooLarge)
  ) {
    return new SagaError(SagaErrorCode.CommandFailed, `${what}: ${error.message}`, details, { cause: error });
  }
  if (isMessagingError(error, MessagingErrorCode.ReplyTimeout)) {
    return new SagaError(SagaErrorCode.StepTimeout, `${what}: ${error.message}`, details, { cause: error });
  }
  return error;
}
