export { defineEvent, type EventData, type EventDefinition } from "./envelope/define-event.js";
export { createEnvelope, type Envelope, type EnvelopeInit } from "./envelope/envelope.js";
export {
  cloudEventsJsonType,
  decodeEnvelope,
  defaultMaxMessageBytes,
  encodeEnvelope,
  envelopeProblems,
} from "./envelope/envelope-codec.js";
export {
  isMessagingError,
  isPermanentError,
  MessagingError,
  MessagingErrorCode,
  PermanentError,
  PublishFailedError,
} from "./errors/messaging-error.js";
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
