import { MessagingError, MessagingErrorCode } from "../../errors/messaging-error.js";

const networkCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

// SQLSTATEs that mean "the server is not there for us right now", not "your statement is wrong".
const unavailableStates = new Set(["57P01", "57P02", "57P03", "53300", "55P03"]);

/**
 * True when `error` says the database could not be reached or the connection died (a refused or
 * reset socket, a server shutting down, a pool that could not connect in time), as opposed to an
 * error of the statement itself.
 */
export function isConnectionError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === "string" && (networkCodes.has(code) || unavailableStates.has(code))) return true;
  if (typeof code === "string" && code.startsWith("08")) return true;
  if (
    typeof message === "string" &&
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(
      message,
    )
  )
    return true;
  if (error instanceof AggregateError) return error.errors.some(isConnectionError);
  return false;
}

/**
 * `FLT_MESSAGING_TRANSPORT_UNAVAILABLE` for `what` that failed with `cause`: the database cannot
 * be reached, or it refused the bus statement (its tables dropped under it, say).
 */
export function databaseError(what: string, cause: unknown): MessagingError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const problem = isConnectionError(cause) ? "PostgreSQL cannot be reached" : "PostgreSQL refused it";
  return new MessagingError(MessagingErrorCode.TransportUnavailable, `${what}: ${problem} (${reason})`, {
    cause,
  });
}
