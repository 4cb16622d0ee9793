import { randomBytes } from "node:crypto";

/** One answer, read whole, with how long it took. */
export interface HttpResult {
  readonly status: number;
  readonly headers: Headers;
  /** The parsed JSON body, or the text when it is not JSON. */
  readonly body: unknown;
  readonly ms: number;
}

/** What {@link httpCall} sends. */
export interface HttpCallOptions {
  readonly method?: string;
  /** Sent as JSON. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** A bearer token for `Authorization`. */
  readonly token?: string;
  /** Starts the request's trace with this id (a sampled W3C `traceparent`). */
  readonly traceId?: string;
  /** Default 5000. */
  readonly timeoutMs?: number;
}

/** A new random trace id: 32 lower-case hex digits. */
export function newTraceId(): string {
  return randomBytes(16).toString("hex");
}

/**
 * Sends one HTTP request and reads the answer whole, never waiting longer than `timeoutMs`. A
 * network failure or timeout throws (with the URL in the message).
 */
export async function httpCall(url: string, options: HttpCallOptions = {}): Promise<HttpResult> {
  const headers: Record<string, string> = { accept: "application/json", ...options.headers };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.traceId !== undefined) {
    headers.traceparent = `00-${options.traceId}-${randomBytes(8).toString("hex")}-01`;
  }
  const method = options.method ?? "GET";
  const started = performance.now();
  try {
    const response = await fetch(url, {
      method,
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      // Not JSON: keep the text.
    }
    return { status: response.status, headers: response.headers, body, ms: performance.now() - started };
  } catch (error) {
    const reason =
      error instanceof Error
        ? error.cause instanceof Error
          ? error.cause.message
          : error.message
        : String(error);
    throw new Error(`${method} ${url} failed: ${reason}`, { cause: error });
  }
}
