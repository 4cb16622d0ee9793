import { injectContext } from "@flotilla/observability";
import { type Clock, ConfigReader, type Duration, type TimerHandle } from "@flotilla/resilience";
import type { EventData, EventDefinition } from "../envelope/define-event.js";
import { createEnvelope, type Envelope } from "../envelope/envelope.js";
import { decodeEnvelope, defaultMaxMessageBytes, encodeEnvelope } from "../envelope/envelope-codec.js";
import { MessagingError, MessagingErrorCode } from "../errors/messaging-error.js";
import { isMessagingLogger, type MessagingLogger, silentLogger } from "../messaging-logger.js";
import { assertTopic } from "../transport/topic.js";
import { DeadLetterCode, type Delivery, type Subscription, type Transport } from "../transport/transport.js";
import { commandFailed } from "./command-failed.js";

/** Options of {@link commandRequester}. */
export interface CommandRequesterOptions {
  readonly transport: Transport;
  /**
   * The topic replies come back on, unique to this requester instance (`replies.orders-1`): it
   * subscribes to it with a queue of its own, and commands carry it as `replyto`.
   */
  readonly replyTopic: string;
  /** The CloudEvents `source` of the commands, e.g. `/services/orders`. */
  readonly source: string;
  /** How long {@link CommandRequester.send} waits for a reply. Default `"30s"`. */
  readonly timeout?: Duration;
  /** The queue of the reply subscription. Default: the reply topic. */
  readonly queue?: string;
  /** Replies handled at once. Default 32. */
  readonly prefetch?: number;
  /** Largest command or reply, in bytes. Default 256 KiB. */
  readonly maxMessageBytes?: number;
  /** pino-compatible; default silent. */
  readonly logger?: MessagingLogger;
  /** Times the reply timeouts. Default `systemClock`. */
  readonly clock?: Clock;
}

/** Options of one {@link CommandRequester.send}. */
export interface SendOptions<R extends EventDefinition | undefined = undefined> {
  /** The reply event expected: the reply's `type` must be its type and `data` must pass its schema. */
  readonly reply?: R;
  /** Partition key of the command (`partitionkey`): commands with one key are handled in order. */
  readonly key?: string;
  readonly subject?: string;
  /** The business flow the command belongs to (a saga id): the command's `correlationid`. */
  readonly correlationId?: string;
  /** Overrides the requester's timeout for this command. */
  readonly timeout?: Duration;
  /**
   * The command's envelope id; default a random UUID. A caller that may send the same command
   * again after a crash (a saga step) derives it from its idempotency key, so the responder's
   * inbox recognises the repeat.
   */
  readonly id?: string;
  /** Transport headers to send with the command (e.g. `flotilla-saga-key`). */
  readonly headers?: Readonly<Record<string, string>>;
}

interface Pending {
  readonly command: string;
  readonly reply: EventDefinition | undefined;
  readonly timer: TimerHandle;
  resolve(envelope: Envelope): void;
  reject(error: Error): void;
}

const known = [
  "transport",
  "replyTopic",
  "source",
  "timeout",
  "queue",
  "prefetch",
  "maxMessageBytes",
  "logger",
  "clock",
];

/**
 * Sends commands over messaging and waits for their replies: request/reply for sagas and
 * process managers. Each command carries the requester's reply topic as `replyto`; the responder
 * (`onCommand` in a consumer) publishes its reply there with `correlationid` = the command's id.
 * Replies that arrive after their command timed out are acknowledged and dropped.
 *
 * @example
 * ```ts
 * const requester = commandRequester({ transport, replyTopic: "replies.orders-1", source: "/services/orders" });
 * const reply = await requester.send(reserveStock, { sku: "A-1", quantity: 2 }, { reply: stockReserved });
 * console.log(reply.data.reservationId);
 * await requester.close();
 * ```
 */
export class CommandRequester {
  readonly #transport: Transport;
  readonly #replyTopic: string;
  readonly #source: string;
  readonly #timeout: number;
  readonly #queue: string;
  readonly #prefetch: number;
  readonly #maxBytes: number;
  readonly #logger: MessagingLogger;
  readonly #clock: Clock;
  readonly #pending = new Map<string, Pending>();
  #subscription: Promise<Subscription> | undefined;
  #closed: Promise<void> | undefined;

  /** Validates `options`; throws a `ConfigError` listing every bad option with its path. */
  constructor(options: CommandRequesterOptions) {
    const reader = new ConfigReader();
    const raw = reader.object(options, "");
    reader.knownKeys(raw, known, "");
    const transport = raw.transport as Transport | undefined;
    if (typeof transport?.subscribe !== "function" || typeof transport.publish !== "function") {
      reader.issue("transport", "expected a Transport with publish() and subscribe()");
    }
    this.#replyTopic = reader.string(raw, "replyTopic", "", "");
    try {
      assertTopic(this.#replyTopic, "replyTopic");
    } catch (error) {
      reader.issue("replyTopic", (error as Error).message);
    }
    this.#source = reader.string(raw, "source", "", "");
    if (raw.source === undefined)
      reader.issue("source", "is required: the CloudEvents source of the commands");
    this.#timeout = reader.duration(raw, "timeout", "", 30_000, { above: 0 });
    this.#queue = reader.string(raw, "queue", "", this.#replyTopic);
    if (!/^[A-Za-z0-9._-]+$/.test(this.#queue)) {
      reader.issue("queue", `must be letters, digits, ".", "_" and "-", got "${this.#queue}"`);
    }
    this.#prefetch = reader.number(raw, "prefetch", "", 32, { min: 1, max: 10_000, integer: true });
    this.#maxBytes = reader.number(raw, "maxMessageBytes", "", defaultMaxMessageBytes, {
      min: 1,
      integer: true,
    });
    this.#logger = silentLogger;
    if (raw.logger !== undefined) {
      if (isMessagingLogger(raw.logger)) this.#logger = raw.logger;
      else
        reader.issue("logger", "expected a pino-compatible logger with debug(), info(), warn() and error()");
    }
    this.#clock = reader.clock(raw, "clock", "");
    reader.throwIfInvalid();
    this.#transport = transport as Transport;
  }

  /** The reply topic, written to each command's `replyto`. */
  get replyTopic(): string {
    return this.#replyTopic;
  }

  /** Commands waiting for their reply. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Subscribes to the reply topic; {@link CommandRequester.send} does it on first use. Idempotent. */
  async start(): Promise<void> {
    this.#assertOpen();
    this.#subscription ??= this.#transport.subscribe({
      queue: this.#queue,
      topics: [this.#replyTopic],
      prefetch: this.#prefetch,
      handler: (delivery) => this.#onReply(delivery),
    });
    try {
      await this.#subscription;
    } catch (error) {
      this.#subscription = undefined;
      throw error;
    }
  }

  /**
   * Publishes `command` with `data` and resolves with the reply envelope. Rejects with
   * `FLT_MESSAGING_PAYLOAD_INVALID` when `data` fails the command's schema (nothing is sent),
   * `FLT_MESSAGING_REPLY_TIMEOUT` when no reply came within the timeout,
   * `FLT_MESSAGING_COMMAND_FAILED` with the responder's message when it answered with a failure
   * (or a reply that is not the expected `reply` event), the transport's error when the command
   * could not be published, and `FLT_MESSAGING_CLOSED` once the requester is closed.
   */
  send<C extends EventDefinition, R extends EventDefinition>(
    command: C,
    data: EventData<C>,
    options: SendOptions<R> & { readonly reply: R },
  ): Promise<Envelope<EventData<R>>>;
  send<C extends EventDefinition>(command: C, data: EventData<C>, options?: SendOptions): Promise<Envelope>;
  async send(
    command: EventDefinition,
    data: unknown,
    options: SendOptions<EventDefinition | undefined> = {},
  ) {
    this.#assertOpen();
    const parsed = command.schema.safeParse(data);
    if (!parsed.success) {
      const issues = parsed.error.issues.map(
        (issue) =>
          `${issue.path.length === 0 ? "(data)" : issue.path.map(String).join(".")}: ${issue.message}`,
      );
      throw new MessagingError(
        MessagingErrorCode.PayloadInvalid,
        `data of command "${command.type}" fails its schema: ${issues.join("; ")}`,
      );
    }
    const timeout = this.#timeoutOf(options.timeout);
    if (options.id !== undefined && (typeof options.id !== "string" || options.id === "")) {
      throw new MessagingError(MessagingErrorCode.ConfigInvalid, "send: id must be a non-empty string");
    }
    if (options.id !== undefined && this.#pending.has(options.id)) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `send: a command with id ${options.id} is already waiting for its reply`,
      );
    }
    await this.start();
    const trace = injectContext<Record<string, string>>({});
    const envelope = createEnvelope({
      type: command.type,
      source: this.#source,
      data: parsed.data,
      schemaversion: command.version,
      replyto: this.#replyTopic,
      ...(options.id === undefined ? {} : { id: options.id }),
      ...(options.key === undefined ? {} : { partitionkey: options.key }),
      ...(options.subject === undefined ? {} : { subject: options.subject }),
      ...(options.correlationId === undefined ? {} : { correlationid: options.correlationId }),
      ...(trace.traceparent === undefined ? {} : { traceparent: trace.traceparent }),
      ...(trace.tracestate === undefined ? {} : { tracestate: trace.tracestate }),
    });
    const body = encodeEnvelope(envelope);
    if (body.byteLength > this.#maxBytes) {
      throw new MessagingError(
        MessagingErrorCode.MessageTooLarge,
        `command "${command.type}" of ${body.byteLength} bytes is over the limit of ${this.#maxBytes} bytes`,
      );
    }
    const reply = new Promise<Envelope>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        this.#pending.delete(envelope.id);
        reject(
          new MessagingError(
            MessagingErrorCode.ReplyTimeout,
            `no reply to command "${command.type}" (${envelope.id}) on "${this.#replyTopic}" within ${timeout} ms`,
          ),
        );
      }, timeout);
      this.#pending.set(envelope.id, { command: command.type, reply: options.reply, timer, resolve, reject });
    });
    try {
      await this.#transport.publish([
        {
          id: envelope.id,
          topic: command.topic,
          ...(options.key === undefined ? {} : { key: options.key }),
          ...(options.headers === undefined ? {} : { headers: options.headers }),
          body,
        },
      ]);
    } catch (error) {
      this.#forget(envelope.id);
      throw error;
    }
    return reply;
  }

  /** Rejects the commands still waiting with `FLT_MESSAGING_CLOSED` and unsubscribes. Idempotent; does not close the transport. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    for (const [id, pending] of this.#pending) {
      this.#forget(id);
      pending.reject(
        new MessagingError(
          MessagingErrorCode.Closed,
          `command requester closed before "${pending.command}" (${id}) was answered`,
        ),
      );
    }
    const subscription = await this.#subscription?.catch(() => undefined);
    await subscription?.close();
  }

  async #onReply(delivery: Delivery): Promise<void> {
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(delivery.message.body, this.#maxBytes);
    } catch (error) {
      this.#logger.warn(
        { replyTopic: this.#replyTopic, messageId: delivery.message.id, err: error },
        "unreadable reply",
      );
      const code =
        (error as MessagingError).code === MessagingErrorCode.MessageTooLarge
          ? DeadLetterCode.TooLarge
          : DeadLetterCode.Malformed;
      await this.#settle(delivery, () => delivery.deadLetter({ code, message: (error as Error).message }));
      return;
    }
    const pending =
      envelope.correlationid === undefined ? undefined : this.#pending.get(envelope.correlationid);
    if (pending === undefined) {
      this.#logger.debug(
        { replyTopic: this.#replyTopic, messageId: envelope.id, correlationId: envelope.correlationid },
        "reply to no waiting command (timed out, or sent by another requester); dropped",
      );
    } else {
      this.#forget(envelope.correlationid!);
      this.#answer(pending, envelope);
    }
    await this.#settle(delivery, () => delivery.ack());
  }

  #answer(pending: Pending, envelope: Envelope): void {
    if (envelope.type === commandFailed.type) {
      const failure = commandFailed.schema.safeParse(envelope.data);
      const reason = failure.success
        ? `${failure.data.code}: ${failure.data.message}`
        : JSON.stringify(envelope.data);
      pending.reject(
        new MessagingError(
          MessagingErrorCode.CommandFailed,
          `command "${pending.command}" (${envelope.correlationid}) failed: ${reason}`,
        ),
      );
      return;
    }
    const expected = pending.reply;
    if (expected === undefined) {
      pending.resolve(envelope);
      return;
    }
    if (envelope.type !== expected.type) {
      pending.reject(
        new MessagingError(
          MessagingErrorCode.CommandFailed,
          `command "${pending.command}" was answered with "${envelope.type}", expected "${expected.type}"`,
        ),
      );
      return;
    }
    const parsed = expected.schema.safeParse(envelope.data);
    if (!parsed.success) {
      pending.reject(
        new MessagingError(
          MessagingErrorCode.CommandFailed,
          `the "${expected.type}" reply to command "${pending.command}" fails its schema: ${parsed.error.issues.map((i) => `${i.path.map(String).join(".") || "(data)"}: ${i.message}`).join("; ")}`,
        ),
      );
      return;
    }
    pending.resolve({ ...envelope, data: parsed.data });
  }

  async #settle(delivery: Delivery, settle: () => Promise<void>): Promise<void> {
    try {
      await settle();
    } catch (error) {
      this.#logger.warn(
        { replyTopic: this.#replyTopic, messageId: delivery.message.id, err: error },
        "could not settle reply",
      );
    }
  }

  #forget(id: string): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#clock.clearTimeout(pending.timer);
    this.#pending.delete(id);
  }

  #timeoutOf(value: Duration | undefined): number {
    if (value === undefined) return this.#timeout;
    const reader = new ConfigReader();
    const ms = reader.duration({ timeout: value }, "timeout", "", this.#timeout, { above: 0 });
    reader.throwIfInvalid();
    return ms;
  }

  #assertOpen(): void {
    if (this.#closed !== undefined) {
      throw new MessagingError(
        MessagingErrorCode.Closed,
        `command requester on "${this.#replyTopic}" is closed`,
      );
    }
  }
}

/**
 * Creates a {@link CommandRequester}. Throws a `ConfigError` listing every bad option with its path.
 *
 * @example
 * ```ts
 * const requester = commandRequester({ transport, replyTopic: "replies.orders-1", source: "/services/orders", timeout: "10s" });
 * ```
 */
export function commandRequester(options: CommandRequesterOptions): CommandRequester {
  return new CommandRequester(options);
}
