import {
  ClosedConnectionError,
  ConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";
import { isMessagingError, MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";

/**
 * True when `error` says the broker did not answer (timeout, no JetStream responder, connection
 * lost or refused) rather than refusing the request.
 */
export function isUnreachable(error: unknown): boolean {
  return (
    error instanceof TimeoutError ||
    error instanceof NoRespondersError ||
    error instanceof ConnectionError ||
    error instanceof ClosedConnectionError ||
    error instanceof DrainingConnectionError ||
    error instanceof RequestError ||
    (error as { code?: unknown } | null)?.code === "ECONNREFUSED"
  );
}

/**
 * `error` as a {@link MessagingError}: `FLT_MESSAGING_TRANSPORT_UNAVAILABLE` when NATS could not be
 * reached, otherwise `fallback`, with `action` ("publishing to …") in the message.
 */
export function toMessagingError(
  error: unknown,
  action: string,
  fallback: MessagingErrorCode = MessagingErrorCode.TransportUnavailable,
): MessagingError {
  if (isMessagingError(error)) return error;
  const detail = error instanceof Error ? error.message : String(error);
  const code = isUnreachable(error) ? MessagingErrorCode.TransportUnavailable : fallback;
  return new MessagingError(code, `NATS ${action} failed: ${detail}`, { cause: error });
}
