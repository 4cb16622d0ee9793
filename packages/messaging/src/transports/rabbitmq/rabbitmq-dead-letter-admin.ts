import type { Channel, Connection, SyncMessage } from "rabbitmq-client";
import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import {
  type DeadLetter,
  type DeadLetterAdmin,
  DeadLetterCode,
  type DeadLetterSelection,
} from "../../transport/transport.js";
import type { AmqpOutgoing, ConfirmedPublisher } from "./rabbitmq-confirmed-publisher.js";
import {
  FlotillaHeader,
  fromAmqpMessage,
  numberHeader,
  stringHeader,
  toAmqpBody,
  toAmqpEnvelope,
} from "./rabbitmq-message.js";
import type { RabbitMqTopology } from "./rabbitmq-topology.js";
import { withChannel, withTimeout } from "./rabbitmq-topology-declarer.js";
import { amqpNamePattern } from "./rabbitmq-transport-options.js";

/** What {@link RabbitMqDeadLetterAdmin} works with. */
export interface RabbitMqDeadLetterAdminDeps {
  readonly connection: Connection;
  readonly topology: RabbitMqTopology;
  /** Sends replays (confirmed). */
  readonly publisher: ConfirmedPublisher;
  /** The subscription queues `list()` without a `queue` looks at. */
  readonly knownQueues: () => Iterable<string>;
  readonly timeoutMs: number;
}

const codes = new Set<string>(Object.values(DeadLetterCode));

/**
 * Dead letters in the `<queue>.dead` queues. Reading peeks: it fetches without acking on a channel
 * of its own and then closes it, which puts every message back in its place. Replay republishes to
 * `<queue>` (confirmed, as a first attempt) and then acks the dead letter; purge acks it.
 *
 * A dead letter's id is `<queue>:<dead-letter id>`, so `get`, `replay` and `purge` by id work for
 * any queue. `list()` without `queue` only sees the queues this process subscribed to or dead-lettered
 * from (RabbitMQ offers no way over AMQP to list queues); pass `queue` for any other.
 * Entries being read by another admin at the same moment are invisible to this one.
 */
export class RabbitMqDeadLetterAdmin implements DeadLetterAdmin {
  readonly #deps: RabbitMqDeadLetterAdminDeps;

  constructor(deps: RabbitMqDeadLetterAdminDeps) {
    this.#deps = deps;
  }

  async list(options: { readonly queue?: string; readonly limit?: number } = {}): Promise<DeadLetter[]> {
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `list limit must be a whole number from 1, got ${String(limit)}`,
      );
    }
    const queues = options.queue === undefined ? [...new Set(this.#deps.knownQueues())] : [options.queue];
    const found: DeadLetter[] = [];
    for (const queue of queues) {
      assertQueue(queue);
      found.push(...(await this.#peek(queue, limit)));
    }
    return found.sort((a, b) => a.deadLetteredAt.getTime() - b.deadLetteredAt.getTime()).slice(0, limit);
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const parsed = parseId(id);
    if (parsed === undefined) return undefined;
    let found: DeadLetter | undefined;
    await this.#scan(parsed.queue, new Set([id]), async (_channel, letters) => {
      found = letters[0]?.letter;
    });
    return found;
  }

  async replay(selection: DeadLetterSelection): Promise<number> {
    let replayed = 0;
    for (const [queue, ids] of this.#select(selection)) {
      await this.#assertQueueExists(queue);
      await this.#scan(queue, ids, async (channel, letters) => {
        const outgoing: AmqpOutgoing[] = letters.map(({ letter }) => ({
          envelope: toAmqpEnvelope(letter.message, { exchange: "", routingKey: queue }),
          body: toAmqpBody(letter.message.body),
        }));
        let published = letters.length;
        try {
          await this.#deps.publisher.send(outgoing);
        } catch (error) {
          published = (error as { published?: number }).published ?? 0;
          ackLeading(channel, letters, published);
          replayed += published;
          throw error;
        }
        ackLeading(channel, letters, published);
        replayed += published;
      });
    }
    return replayed;
  }

  async purge(selection: DeadLetterSelection): Promise<number> {
    let purged = 0;
    for (const [queue, ids] of this.#select(selection)) {
      if (ids === undefined) {
        const dead = this.#deps.topology.deadQueue(queue);
        purged += await withChannel(
          this.#deps.connection,
          this.#deps.timeoutMs,
          `purging ${dead}`,
          async (ch) => {
            const { messageCount } = await withTimeout(
              ch.queuePurge({ queue: dead }),
              this.#deps.timeoutMs,
              `purging ${dead}`,
            );
            return messageCount;
          },
        ).catch((error: unknown) => (isNotFound(error) ? 0 : Promise.reject(error)));
        continue;
      }
      await this.#scan(queue, ids, async (channel, letters) => {
        ackLeading(channel, letters, letters.length);
        purged += letters.length;
      });
    }
    return purged;
  }

  /** Groups a selection by queue: the ids wanted in each, or `undefined` for all of it. */
  #select(selection: DeadLetterSelection): Map<string, Set<string> | undefined> {
    const byQueue = new Map<string, Set<string> | undefined>();
    if ("queue" in selection) {
      assertQueue(selection.queue);
      byQueue.set(selection.queue, undefined);
      return byQueue;
    }
    if (!Array.isArray(selection.ids)) {
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        "selection must have ids (an array) or a queue",
      );
    }
    for (const id of selection.ids) {
      const parsed = parseId(id);
      if (parsed === undefined) continue;
      const ids = byQueue.get(parsed.queue) ?? new Set<string>();
      ids.add(id);
      byQueue.set(parsed.queue, ids);
    }
    return byQueue;
  }

  async #assertQueueExists(queue: string): Promise<void> {
    await withChannel(this.#deps.connection, this.#deps.timeoutMs, `checking queue ${queue}`, (channel) =>
      withTimeout(
        channel.queueDeclare({ queue, passive: true }),
        this.#deps.timeoutMs,
        `checking queue ${queue}`,
      ),
    ).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
      throw new MessagingError(
        MessagingErrorCode.ConfigInvalid,
        `cannot replay to queue ${queue}: it does not exist (subscribe to it first)`,
        { cause: error },
      );
    });
  }

  /** The first `limit` dead letters of `queue`, oldest first, left in place. */
  async #peek(queue: string, limit: number): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    await this.#fetch(queue, async (_channel, next) => {
      while (letters.length < limit) {
        const msg = await next();
        if (msg === undefined) break;
        letters.push(toDeadLetter(queue, msg));
      }
    });
    return letters;
  }

  /**
   * Fetches the dead letters of `queue` whose id is in `ids` (every one when `ids` is undefined),
   * hands them to `act` with their channel, then closes the channel: what `act` did not ack goes
   * back in its place.
   */
  async #scan(
    queue: string,
    ids: ReadonlySet<string> | undefined,
    act: (channel: Channel, letters: Fetched[]) => Promise<void>,
  ): Promise<void> {
    await this.#fetch(queue, async (channel, next) => {
      const wanted = new Set(ids);
      const letters: Fetched[] = [];
      while (ids === undefined || wanted.size > 0) {
        const msg = await next();
        if (msg === undefined) break;
        const letter = toDeadLetter(queue, msg);
        if (ids !== undefined && !wanted.delete(letter.id)) continue;
        letters.push({ letter, deliveryTag: msg.deliveryTag });
      }
      if (letters.length > 0) await act(channel, letters);
    });
  }

  async #fetch(
    queue: string,
    work: (channel: Channel, next: () => Promise<SyncMessage | undefined>) => Promise<void>,
  ): Promise<void> {
    const dead = this.#deps.topology.deadQueue(queue);
    const { connection, timeoutMs } = this.#deps;
    await withChannel(connection, timeoutMs, `reading ${dead}`, (channel) =>
      work(channel, () =>
        withTimeout(channel.basicGet({ queue: dead, noAck: false }), timeoutMs, `reading ${dead}`),
      ),
    ).catch((error: unknown) => {
      // A queue that was never dead-lettered to has no dead-letter queue: it holds nothing.
      if (!isNotFound(error)) throw error;
    });
  }
}

interface Fetched {
  readonly letter: DeadLetter;
  readonly deliveryTag: number;
}

function ackLeading(channel: Channel, letters: readonly Fetched[], count: number): void {
  for (const { deliveryTag } of letters.slice(0, count)) channel.basicAck({ deliveryTag });
}

function isNotFound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "NOT_FOUND";
}

function assertQueue(queue: string): void {
  if (typeof queue !== "string" || !amqpNamePattern.test(queue)) {
    throw new MessagingError(
      MessagingErrorCode.ConfigInvalid,
      `queue must be letters, digits, ".", "_" and "-", got ${JSON.stringify(queue)}`,
    );
  }
}

function parseId(id: string): { queue: string; token: string } | undefined {
  if (typeof id !== "string") return undefined;
  const colon = id.indexOf(":");
  if (colon <= 0 || colon === id.length - 1) return undefined;
  const queue = id.slice(0, colon);
  return amqpNamePattern.test(queue) ? { queue, token: id.slice(colon + 1) } : undefined;
}

/** Reads a dead letter: ours carry the reason headers; the broker's own (rejects) carry `x-death`. */
function toDeadLetter(queue: string, msg: SyncMessage): DeadLetter {
  const { message, rawHeaders } = fromAmqpMessage(msg);
  const death = firstDeath(rawHeaders);
  const token = stringHeader(rawHeaders, FlotillaHeader.DeadLetterId) ?? `message-${message.id}`;
  const code = stringHeader(rawHeaders, FlotillaHeader.DeadCode);
  const at = Date.parse(stringHeader(rawHeaders, FlotillaHeader.DeadAt) ?? "");
  return {
    id: `${queue}:${token}`,
    queue,
    message,
    reason:
      code !== undefined && codes.has(code)
        ? {
            code: code as DeadLetterCode,
            message: stringHeader(rawHeaders, FlotillaHeader.DeadMessage) ?? "",
          }
        : {
            code: death?.reason === "delivery_limit" ? DeadLetterCode.Poison : DeadLetterCode.Permanent,
            message: `dead-lettered by RabbitMQ (${death?.reason ?? "unknown reason"})`,
          },
    attempts:
      numberHeader(rawHeaders, FlotillaHeader.DeadAttempts) ??
      (numberHeader(rawHeaders, "x-delivery-count") ?? 0) + 1,
    deadLetteredAt: new Date(
      Number.isNaN(at)
        ? (death?.time ?? (msg.timestamp === undefined ? Date.now() : msg.timestamp * 1000))
        : at,
    ),
  };
}

function firstDeath(
  headers: Readonly<Record<string, unknown>>,
): { reason?: string; time?: number } | undefined {
  const deaths = headers["x-death"];
  if (!Array.isArray(deaths) || deaths.length === 0) return undefined;
  const death = deaths[0] as { reason?: unknown; time?: unknown };
  const time =
    typeof death.time === "number"
      ? death.time * 1000
      : death.time instanceof Date
        ? death.time.getTime()
        : undefined;
  return {
    ...(typeof death.reason === "string" ? { reason: death.reason } : {}),
    ...(time === undefined ? {} : { time }),
  };
}
