import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { connect, type NatsConnection, nanos } from "@nats-io/transport-node";
import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";
import type { MessagingLogger } from "../../messaging-logger.js";
import { assertSubscribeOptions } from "../../transport/assert-subscribe-options.js";
import type {
  OutgoingMessage,
  SubscribeOptions,
  Subscription,
  Transport,
} from "../../transport/transport.js";
import { NatsDeadLetters } from "./nats-dead-letters.js";
import { toMessagingError } from "./nats-errors.js";
import { NatsPublisher } from "./nats-publisher.js";
import { NatsSubjects } from "./nats-subjects.js";
import { NatsSubscription } from "./nats-subscription.js";
import {
  type NatsTransportOptions,
  parseNatsTransportOptions,
  type ResolvedNatsTransportOptions,
} from "./nats-transport-options.js";

/** Largest `prefetch` a subscription may ask for. */
const maxPrefetch = 10_000;

/**
 * A {@link Transport} on NATS JetStream (server 2.9 or later). Messages live in one file-backed
 * stream on `<prefix>.>` with interest retention (a message stays until every queue it matched
 * has settled it); each queue is a set of durable pull consumers (see {@link NatsSubscription});
 * dead letters live in a second stream, `<stream>_DLQ` (see {@link NatsDeadLetters}). The client
 * reconnects forever; while it is disconnected publishes fail at once with
 * `FLT_MESSAGING_TRANSPORT_UNAVAILABLE`, and pulls resume by themselves after a reconnection.
 */
export class NatsTransport implements Transport {
  readonly kind = "nats";
  readonly deadLetters: NatsDeadLetters;
  readonly #nc: NatsConnection;
  readonly #jsm: JetStreamManager;
  readonly #options: ResolvedNatsTransportOptions;
  readonly #subjects: NatsSubjects;
  readonly #publisher: NatsPublisher;
  readonly #subscriptions = new Set<NatsSubscription>();
  readonly #watching: Promise<void>;
  #connected = true;
  #closing: Promise<void> | undefined;

  private constructor(nc: NatsConnection, jsm: JetStreamManager, options: ResolvedNatsTransportOptions) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#options = options;
    this.#subjects = new NatsSubjects(options.subjectPrefix);
    const js = jetstream(nc, { timeout: options.publishTimeout });
    this.#publisher = new NatsPublisher({
      js,
      subjects: this.#subjects,
      publishTimeout: options.publishTimeout,
      connected: () => this.#connected,
    });
    this.deadLetters = new NatsDeadLetters({
      js,
      jsm,
      subjects: this.#subjects,
      stream: deadLetterStream(options.stream),
      publishTimeout: options.publishTimeout,
      assertOpen: () => this.#assertOpen(),
    });
    this.#watching = this.#watchConnection();
  }

  /** Connects, creates or updates both streams, and returns the transport. See {@link natsTransport}. */
  static async start(options: NatsTransportOptions = {}): Promise<NatsTransport> {
    const resolved = parseNatsTransportOptions(options);
    const { logger } = resolved;
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: [...resolved.servers],
        name: `flotilla-messaging ${resolved.stream}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        reconnectJitter: 250,
        pingInterval: 10_000,
        maxPingOut: 2,
        timeout: resolved.publishTimeout,
      });
    } catch (error) {
      throw toMessagingError(
        error,
        `connecting to ${resolved.servers.join(", ")}`,
        MessagingErrorCode.TransportUnavailable,
      );
    }
    try {
      const jsm = await jetstreamManager(nc, { timeout: resolved.publishTimeout });
      await ensureStreams(jsm, resolved, new NatsSubjects(resolved.subjectPrefix));
      logger.info(
        { servers: resolved.servers, serverVersion: nc.info?.version, stream: resolved.stream },
        "NATS transport connected",
      );
      return new NatsTransport(nc, jsm, resolved);
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw toMessagingError(error, `setting up stream ${resolved.stream}`, MessagingErrorCode.ConfigInvalid);
    }
  }

  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    this.#assertOpen();
    await this.#publisher.publish(messages);
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.#assertOpen();
    assertSubscribeOptions(options, maxPrefetch);
    const subscription = new NatsSubscription(options, {
      js: jetstream(this.#nc, { timeout: this.#options.publishTimeout }),
      jsm: this.#jsm,
      subjects: this.#subjects,
      options: this.#options,
      deadLetters: this.deadLetters,
      logger: this.#options.logger,
    });
    await subscription.start();
    this.#subscriptions.add(subscription);
    return {
      queue: subscription.queue,
      close: async () => {
        await subscription.close();
        this.#subscriptions.delete(subscription);
      },
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await Promise.all([...this.#subscriptions].map((subscription) => subscription.close()));
    this.#subscriptions.clear();
    await this.#nc.close().catch((error: unknown) => {
      this.#options.logger.warn({ err: error }, "closing the NATS connection failed");
    });
    await this.#watching;
    this.#options.logger.info({ stream: this.#options.stream }, "NATS transport closed");
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) {
      throw new MessagingError(MessagingErrorCode.Closed, "the NATS transport is closed");
    }
  }

  async #watchConnection(): Promise<void> {
    const logger: MessagingLogger = this.#options.logger;
    for await (const status of this.#nc.status()) {
      if (status.type === "disconnect") {
        this.#connected = false;
        logger.warn({ server: status.server }, "NATS connection lost; reconnecting");
      } else if (status.type === "reconnect") {
        this.#connected = true;
        logger.info({ server: status.server }, "NATS connection restored");
      } else if (status.type === "error") {
        logger.error({ err: status.error }, "NATS connection error");
      }
    }
  }
}

/**
 * Connects to NATS JetStream and returns a {@link NatsTransport}. Rejects with
 * `FLT_MESSAGING_CONFIG_INVALID` for bad options (naming each) or a stream it cannot set up, and
 * `FLT_MESSAGING_TRANSPORT_UNAVAILABLE` when the server cannot be reached.
 *
 * @example
 * ```ts
 * const transport = await natsTransport({ servers: "nats.internal:4222", stream: "ORDERS", subjectPrefix: "orders" });
 * await transport.subscribe({ queue: "billing", topics: ["orders.#"], prefetch: 16, handler: (d) => d.ack() });
 * await transport.publish([{ id: randomUUID(), topic: "orders.placed", body }]);
 * ```
 */
export function natsTransport(options: NatsTransportOptions = {}): Promise<NatsTransport> {
  return NatsTransport.start(options);
}

function deadLetterStream(stream: string): string {
  return `${stream}_DLQ`;
}

async function ensureStreams(
  jsm: JetStreamManager,
  options: ResolvedNatsTransportOptions,
  subjects: NatsSubjects,
): Promise<void> {
  const duplicateWindow = nanos(options.duplicateWindow);
  await ensureStream(jsm, {
    name: options.stream,
    subjects: subjects.streamSubjects,
    retention: RetentionPolicy.Interest,
    storage: StorageType.File,
    duplicate_window: duplicateWindow,
  });
  await ensureStream(jsm, {
    name: deadLetterStream(options.stream),
    subjects: subjects.deadLetterSubjects,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: duplicateWindow,
  });
}

async function ensureStream(
  jsm: JetStreamManager,
  config: Pick<StreamConfig, "name" | "subjects" | "retention" | "storage" | "duplicate_window">,
): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
    try {
      await jsm.streams.add(config);
      return;
    } catch (addError) {
      // Another transport may have created it meanwhile; then updating it is what is left.
      await jsm.streams.info(config.name).catch(() => Promise.reject(addError));
    }
  }
  const { name, retention: _retention, storage: _storage, ...mutable } = config;
  await jsm.streams.update(name, mutable);
}
