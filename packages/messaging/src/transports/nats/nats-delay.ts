import type { JsMsg } from "@nats-io/jetstream";
import { headerValue, NatsHeader } from "./nats-headers.js";

/**
 * Delayed publishing on JetStream 2.9, which cannot schedule messages: a delayed message is
 * stored at once with a {@link NatsHeader.Delay} header, and a consumer that receives it early
 * NAKs it for the time that remains. These helpers read that header.
 */
function delayOf(message: JsMsg): number {
  const raw = headerValue(message.headers, NatsHeader.Delay);
  const delay = raw === undefined ? 0 : Number(raw);
  return Number.isFinite(delay) && delay > 0 ? delay : 0;
}

/** Milliseconds until `message` may be handled (the stream's store time plus its delay); 0 when due. */
export function remainingDelay(message: JsMsg, now: number): number {
  const delay = delayOf(message);
  if (delay === 0) return 0;
  const storedAt = message.info.timestampNanos / 1e6;
  return Math.max(0, Math.ceil(storedAt + delay - now));
}

/**
 * The attempt to report to the handler. JetStream counts the early delivery that was NAKed for a
 * publish delay; this does not. It assumes the early delivery happened once, which holds unless
 * no subscriber pulled during the whole delay — then a redelivery reports one attempt too few.
 */
export function handlerAttempt(message: JsMsg): number {
  const count = message.info.deliveryCount;
  return delayOf(message) > 0 && count > 1 ? count - 1 : count;
}
