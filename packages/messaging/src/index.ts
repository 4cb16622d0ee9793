export { Consumer, consumer } from "./consumer/consumer.js";
export type { ConsumeOutcome } from "./consumer/consumer-metrics.js";
export type { ConsumerOptions } from "./consumer/consumer-options.js";
export type { EnvelopeOutbox, EnvelopeSink } from "./consumer/envelope-sink.js";
export { type EventHandler, on } from "./consumer/event-handler.js";
export type { MessageContext } from "./consumer/message-context.js";
export { deadLetterApi, maxListLimit, maxSelectedIds } from "./dead-letter-api/dead-letter-api.js";
export type { DeadLetterApiOptions } from "./dead-letter-api/dead-letter-api-options.js";
export type { DeadLetterJson } from "./dead-letter-api/dead-letter-json.js";
export { problemContentType, sendJson, sendProblem } from "./dead-letter-api/problem-response.js";
export { type JsonBody, readJsonBody } from "./dead-letter-api/read-json-body.js";
export { defineEvent, type EventData, type EventDefinition } from "./envelope/define-event.js";
export { createEnvelope, type Envelope, type EnvelopeInit } from "./envelope/envelope.js";
export {
  cloudEventsJsonType,
  decodeEnvelope,
  defaultMaxMessageBytes,
  encodeEnvelope,
  envelopeProblems,
} from "./envelope/envelope-codec.js";
export { isEventDefinition } from "./envelope/is-event-definition.js";
export {
  isMessagingError,
  isPermanentError,
  MessagingError,
  MessagingErrorCode,
  PermanentError,
  PublishFailedError,
} from "./errors/messaging-error.js";
export { Inbox, type InboxOptions, inbox } from "./inbox/inbox.js";
export type { Queryable } from "./inbox/queryable.js";
export { isMessagingLogger, type MessagingLogger, readLogger, silentLogger } from "./messaging-logger.js";
export {
  type EnvelopePublishOptions,
  Outbox,
  type OutboxEntry,
  type OutboxOptions,
  outbox,
  type PublishOptions,
} from "./outbox/outbox.js";
export { OutboxRelay, type OutboxRelayStatus, outboxRelay } from "./outbox/outbox-relay.js";
export type { OutboxRelayEvent } from "./outbox/outbox-relay-event.js";
export type { OutboxRelayOptions } from "./outbox/outbox-relay-options.js";
export type { OutboxRow } from "./outbox/outbox-row.js";
export { OutboxSql } from "./outbox/outbox-sql.js";
export { commandFailed } from "./request-reply/command-failed.js";
export {
  CommandRequester,
  type CommandRequesterOptions,
  commandRequester,
  type SendOptions,
} from "./request-reply/command-requester.js";
export { onCommand } from "./request-reply/on-command.js";
export { KeyedSerializer } from "./transport/keyed-serializer.js";
export { assertTopic, assertTopicPattern, maxTopicLength, topicMatcher } from "./transport/topic.js";
export {
  type DeadLetter,
  type DeadLetterAdmin,
  DeadLetterCode,
  type DeadLetterReason,
  type DeadLetterSelection,
  type Delivery,
  type OutgoingMessage,
  type SubscribeOptions,
  type Subscription,
  type Transport,
  type TransportMessage,
} from "./transport/transport.js";
export { MemoryTransport, memoryTransport } from "./transports/memory/memory-transport.js";
export type { MemoryTransportOptions } from "./transports/memory/memory-transport-options.js";
export { NatsTransport, natsTransport } from "./transports/nats/nats-transport.js";
export {
  type NatsTransportOptions,
  natsTransportDefaults,
  parseNatsTransportOptions,
  type ResolvedNatsTransportOptions,
} from "./transports/nats/nats-transport-options.js";
export { PostgresTransport, postgresTransport } from "./transports/postgres/postgres-transport.js";
export type { PostgresTransportOptions } from "./transports/postgres/postgres-transport-options.js";
export { RabbitMqTransport, rabbitmqTransport } from "./transports/rabbitmq/rabbitmq-transport.js";
export {
  defaultRabbitMqRetryDelaysMs,
  parseRabbitMqTransportOptions,
  type RabbitMqQueueType,
  type RabbitMqTransportOptions,
  type ResolvedRabbitMqTransportOptions,
} from "./transports/rabbitmq/rabbitmq-transport-options.js";
