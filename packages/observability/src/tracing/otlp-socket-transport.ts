import { connect, type Socket } from "node:net";
import {
  type ExportResponse,
  type IExporterTransport,
  OTLPExporterError,
} from "@opentelemetry/otlp-exporter-base";
import { HttpResponseError, HttpResponseReader } from "./http-response-reader.js";

/** What {@link OtlpSocketTransport} needs of the SDK's HTTP transport parameters. */
export interface OtlpSocketTransportOptions {
  /** The collector's `http:` URL, e.g. `http://127.0.0.1:4318/v1/traces`. */
  readonly url: URL;
  /** The request headers, Content-Type included, as the exporter's configuration resolves them. */
  readonly headers: () => Promise<Record<string, string>> | Record<string, string>;
  /** Prepended to the SDK's user agent, as the SDK's transport does. */
  readonly userAgent?: string | undefined;
  /** How long an idle connection is kept when the server sends no `Keep-Alive` hint. Default 4 s. */
  readonly idleTimeoutMs?: number;
}

// The SDK's own transport sends this (otlp-exporter-base http-transport-utils).
const sdkUserAgent = "OTel-OTLP-Exporter-JavaScript/0.301.0";
// https://github.com/open-telemetry/opentelemetry-js/blob/main/experimental/packages/otlp-exporter-base/src/is-export-retryable.ts
const retryableStatuses = new Set([429, 502, 503, 504]);
const retryableNetworkErrors = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
  "ENETUNREACH",
  "EHOSTUNREACH",
]);

/**
 * Sends OTLP/HTTP export requests over plain keep-alive TCP connections, writing each request as
 * one `writev` and reading the response with {@link HttpResponseReader}. It answers exactly as the
 * SDK's HTTP transport does (success with the body, retryable for 429/502/503/504 and network
 * errors with `Retry-After` honoured, failure otherwise), so the SDK's retrying transport, export
 * delegate and batch processor run unchanged on top of it.
 *
 * Why not the SDK's transport: it goes through `node:http`'s client, whose `OutgoingMessage` and
 * `Socket` write paths an instrumented HTTP server shares. Export requests then make those shared
 * paths polymorphic and a server pays for it on every response, not only on the exported ones.
 * Plain `http:` only; `https:` and compressed exports keep the SDK's transport.
 * @internal
 */
export class OtlpSocketTransport implements IExporterTransport {
  readonly #host: string;
  readonly #port: number;
  readonly #target: string;
  readonly #headers: OtlpSocketTransportOptions["headers"];
  readonly #userAgent: string;
  readonly #idleTimeoutMs: number;
  readonly #idle: IdleSocket[] = [];
  #closed = false;

  constructor(options: OtlpSocketTransportOptions) {
    const { url } = options;
    if (url.protocol !== "http:")
      throw new TypeError(`OtlpSocketTransport sends plain http: only, not ${url.protocol}`);
    this.#host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    this.#port = url.port === "" ? 80 : Number(url.port);
    this.#target = `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
    this.#headers = options.headers;
    this.#userAgent = options.userAgent ? `${options.userAgent} ${sdkUserAgent}` : sdkUserAgent;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 4000;
  }

  async send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    if (this.#closed) return { status: "failure", error: new Error("OTLP transport is shut down") };
    let head: string;
    try {
      head = this.#head(await this.#headers(), data.byteLength);
    } catch (error) {
      return { status: "failure", error: error as Error };
    }
    const deadline = Date.now() + timeoutMillis;
    const idle = this.#takeIdle();
    const first = await this.#exchange(idle ?? this.#open(), idle !== undefined, head, data, timeoutMillis);
    // A kept-alive connection the server closed while it sat idle fails before any response byte;
    // the request did not reach the server's handler, so it is sent again at once on a new one.
    if (first === staleConnection) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return { status: "retryable", error: new Error("Request timed out") };
      return (await this.#exchange(this.#open(), false, head, data, remaining)) as ExportResponse;
    }
    return first;
  }

  shutdown(): void {
    this.#closed = true;
    for (const { socket } of this.#idle.splice(0)) socket.destroy();
  }

  #head(headers: Record<string, string>, length: number): string {
    let head = `${this.#target}User-Agent: ${this.#userAgent}\r\nContent-Length: ${length}\r\n`;
    for (const [name, value] of Object.entries(headers)) {
      const lower = name.toLowerCase();
      if (lower === "content-length" || lower === "host" || lower === "user-agent" || lower === "connection")
        continue;
      if (!/^[!#$%&'*+.^`|~0-9A-Za-z-]+$/.test(name))
        throw new TypeError(`invalid OTLP header name ${JSON.stringify(name)}`);
      if (/[\r\n\0]/.test(value)) throw new TypeError(`OTLP header ${name} contains CR, LF or NUL`);
      head += `${name}: ${value}\r\n`;
    }
    return `${head}\r\n`;
  }

  #takeIdle(): Socket | undefined {
    for (;;) {
      const idle = this.#idle.pop();
      if (idle === undefined) return undefined;
      const { socket, drop } = idle;
      socket.off("close", drop).off("error", drop).off("timeout", drop);
      if (!socket.destroyed && socket.readyState === "open") {
        socket.setTimeout(0);
        socket.ref();
        return socket;
      }
      socket.destroy();
    }
  }

  #open(): Socket {
    return connect({ host: this.#host, port: this.#port, noDelay: true });
  }

  #release(socket: Socket, keepAliveMs: number | undefined): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    // Leave a second of margin before the server's own idle timeout, so that the server is not
    // closing the connection just as a request goes out on it.
    const idleMs =
      keepAliveMs === undefined ? this.#idleTimeoutMs : Math.min(this.#idleTimeoutMs, keepAliveMs - 1000);
    if (idleMs <= 0) {
      socket.destroy();
      return;
    }
    const idle: IdleSocket = {
      socket,
      drop: () => {
        const at = this.#idle.indexOf(idle);
        if (at !== -1) this.#idle.splice(at, 1);
        socket.destroy();
      },
    };
    socket.on("close", idle.drop).on("error", idle.drop).on("timeout", idle.drop);
    socket.setTimeout(idleMs);
    socket.unref();
    this.#idle.push(idle);
  }

  /** Sends one request; `staleConnection` only for a `reused` connection that failed before any response byte. */
  #exchange(
    socket: Socket,
    reused: boolean,
    head: string,
    body: Uint8Array,
    timeoutMs: number,
  ): Promise<ExportResponse | typeof staleConnection> {
    return new Promise((resolve) => {
      const reader = new HttpResponseReader();
      let settled = false;
      const finish = (
        result: ExportResponse | typeof staleConnection,
        keepAliveMs?: number,
        reusable = false,
      ): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
        if (reusable) this.#release(socket, keepAliveMs);
        else socket.destroy();
        resolve(result);
      };
      const onData = (chunk: Buffer): void => {
        let response: ReturnType<HttpResponseReader["push"]>;
        try {
          response = reader.push(chunk);
        } catch (error) {
          finish({ status: "failure", error: malformed(error) });
          return;
        }
        if (response !== undefined) finish(exportResponse(response), response.keepAliveMs, response.reusable);
      };
      const onEnd = (): void => {
        if (!reader.started) {
          finish(
            reused
              ? staleConnection
              : { status: "retryable", error: new Error("connection closed before any response") },
          );
          return;
        }
        try {
          finish(exportResponse(reader.end()));
        } catch (error) {
          finish({ status: "retryable", error: malformed(error) });
        }
      };
      const onError = (error: NodeJS.ErrnoException): void => {
        if (reused && !reader.started && (error.code === "ECONNRESET" || error.code === "EPIPE")) {
          finish(staleConnection);
          return;
        }
        const retryable = error.code !== undefined && retryableNetworkErrors.has(error.code);
        finish(retryable ? { status: "retryable", error } : { status: "failure", error });
      };
      const onClose = (): void => onEnd();
      const timer = setTimeout(
        () => finish({ status: "retryable", error: new Error("Request timed out") }),
        timeoutMs,
      );
      socket.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
      socket.cork();
      socket.write(head, "latin1");
      socket.write(body);
      socket.uncork();
    });
  }
}

/** A kept-alive connection waiting for the next export, and the listener that forgets it when it closes. */
interface IdleSocket {
  readonly socket: Socket;
  readonly drop: () => void;
}

/** An exchange on a reused connection that the server had already closed. */
const staleConnection = Symbol("stale connection");

function exportResponse(response: {
  status: number;
  reason: string;
  headers: ReadonlyMap<string, string>;
  body: Buffer;
}): ExportResponse {
  if (response.status >= 200 && response.status <= 299) return { status: "success", data: response.body };
  if (retryableStatuses.has(response.status)) {
    const retryInMillis = retryAfterMs(response.headers.get("retry-after"));
    return retryInMillis === undefined ? { status: "retryable" } : { status: "retryable", retryInMillis };
  }
  return {
    status: "failure",
    error: new OTLPExporterError(response.reason, response.status, response.body.toString("utf8")),
  };
}

// https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3: seconds or an HTTP date; the SDK reads it the same way.
function retryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number.parseInt(value, 10);
  if (Number.isInteger(seconds)) return seconds > 0 ? seconds * 1000 : -1;
  const delay = new Date(value).getTime() - Date.now();
  return delay >= 0 ? delay : 0;
}

function malformed(error: unknown): Error {
  return error instanceof HttpResponseError
    ? new Error(`malformed OTLP response: ${error.message}`, { cause: error })
    : (error as Error);
}
