import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import type { Duplex } from "node:stream";
import type { Exchange } from "../chain/exchange.js";
import { GatewayError, GatewayErrorCode } from "../chain/gateway-error.js";
import type { ResponseHeaders } from "../chain/gateway-response.js";
import { mergeResponseHeaders, mergeVary } from "../chain/merge-response-headers.js";
import type { UpstreamHandler } from "../upstream-client/upstream-handler.js";
import { writeDirectResponse } from "./direct-response.js";
import { connectionListed, isHopByHop } from "./hop-by-hop.js";
import type { UpgradeRequest } from "./upgrade-request.js";

/** How one attempt at the upstream ended. */
export type AttemptResult =
  /** The response went to the client (streamed); `error` set when the body broke off midway. */
  | { readonly kind: "sent"; readonly status: number; readonly error?: Error }
  /** The response was read whole because a layer asked for the body. */
  | {
      readonly kind: "buffered";
      readonly status: number;
      readonly headers: ResponseHeaders;
      readonly body: Buffer;
    }
  /** A status the route retries on, read and thrown away, nothing sent to the client. */
  | { readonly kind: "retry-status"; readonly status: number; readonly retryAfter: string | undefined }
  /** No response: connection refused or reset, timeout, bad response; nothing sent to the client. */
  | { readonly kind: "failed"; readonly error: Error };

/** What an attempt needs from the step that runs it. */
export interface AttemptPolicy {
  /** True when this status should be retried (and a retry is still possible). */
  retryOnStatus(status: number): boolean;
  /** Largest body read when the response is buffered. */
  readonly maxBufferedBytes: number;
  /** Set for a WebSocket (or other) upgrade: the client's socket to tunnel to the upstream's. */
  readonly upgrade?: UpgradeRequest | undefined;
}

const isH2 = (res: ServerResponse | Http2ServerResponse): res is Http2ServerResponse => "stream" in res;

/**
 * One request to one upstream instance, as an undici dispatch handler (the callback interface,
 * which undici passes through unwrapped): response headers are filtered and written to the
 * client's response as they arrive and the body is written chunk by chunk, pausing the upstream
 * socket while the client's is full (backpressure in both directions, nothing buffered). The
 * result promise resolves — never rejects — when the exchange with the upstream is over.
 */
export class ProxyAttempt implements UpstreamHandler {
  readonly result: Promise<AttemptResult>;
  #resolve!: (result: AttemptResult) => void;
  readonly #exchange: Exchange;
  readonly #policy: AttemptPolicy;
  #abort: ((err: Error) => void) | undefined;
  #status = 0;
  #mode: "pending" | "stream" | "buffer" | "discard" = "pending";
  #chunks: Buffer[] | undefined;
  #bytes = 0;
  #headers: ResponseHeaders | undefined;
  /** The upstream's head, kept until the client's head is written (HTTP/1.x streaming only). */
  #pendingHead: string[] | undefined;
  #retryAfter: string | undefined;
  #done = false;
  #resume: (() => void) | undefined;
  #held: Buffer | undefined;
  readonly #flush = (): void => {
    const held = this.#held;
    if (held === undefined || this.#done) return;
    this.#held = undefined;
    this.#writePendingHead();
    const res = this.#exchange.res as ServerResponse;
    // Back-pressure catches up at the next chunk: it finds the client's buffer full and pauses.
    if (!res.write(Buffer.from(held))) res.once("drain", this.#onDrain);
  };
  readonly #onDrain = (): void => {
    this.#resume?.();
  };

  constructor(exchange: Exchange, policy: AttemptPolicy) {
    this.#exchange = exchange;
    this.#policy = policy;
    this.result = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** Aborts the upstream request (the client went away, or the deadline passed). */
  abort(error: Error): void {
    if (this.#done) return;
    if (this.#abort !== undefined) this.#abort(error);
    else this.#finish({ kind: "failed", error });
  }

  /** True once response headers went to the client: the attempt can no longer be retried or replaced. */
  get headSent(): boolean {
    return this.#mode === "stream";
  }

  onConnect(abort: (err: Error) => void): void {
    this.#abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: string[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.#status = statusCode;
    this.#resume = resume;
    if (this.#policy.retryOnStatus(statusCode)) {
      this.#mode = "discard";
      this.#retryAfter = headerValue(rawHeaders, "retry-after");
      return true;
    }
    const exchange = this.#exchange;
    const res = exchange.res;
    if (exchange.bufferResponse) {
      this.#mode = "buffer";
      this.#headers = headerObject(rawHeaders);
      this.#chunks = [];
      return true;
    }
    this.#mode = "stream";
    if (isH2(res)) {
      const headers = headerObject(rawHeaders) as Record<string, string | string[]>;
      mergeResponseHeaders(headers, exchange.responseHeaders);
      res.writeHead(statusCode, headers);
    } else {
      // Written with the body when the whole response is in by the end of this turn.
      this.#pendingHead = rawHeaders;
    }
    return true;
  }

  #writePendingHead(): void {
    const raw = this.#pendingHead;
    if (raw === undefined) return;
    this.#pendingHead = undefined;
    const res = this.#exchange.res as ServerResponse;
    res.writeHead(this.#status, responseHeaderList(raw, this.#exchange.responseHeaders));
  }

  onData(chunk: Buffer): boolean {
    switch (this.#mode) {
      case "stream": {
        // Hold the chunk for the rest of this turn: when the response ends in the same socket
        // read (nearly every small answer), head, body and end go out as one `res.end(chunk)`.
        const held = this.#held;
        this.#held = chunk;
        if (held === undefined) {
          queueMicrotask(this.#flush);
          return true;
        }
        this.#writePendingHead();
        const ok = (this.#exchange.res as ServerResponse).write(Buffer.from(held));
        if (!ok) this.#exchange.res.once("drain", this.#onDrain);
        return ok;
      }
      case "buffer":
        this.#bytes += chunk.length;
        if (this.#bytes > this.#policy.maxBufferedBytes) {
          this.#abort?.(
            new GatewayError(
              GatewayErrorCode.BadGateway,
              `upstream response body is larger than ${this.#policy.maxBufferedBytes} bytes, the most a layer may read`,
            ),
          );
          return false;
        }
        this.#chunks!.push(Buffer.from(chunk));
        return true;
      default:
        return true;
    }
  }

  onComplete(): void {
    switch (this.#mode) {
      case "stream": {
        const held = this.#held;
        this.#held = undefined;
        const res = this.#exchange.res as ServerResponse;
        const raw = this.#pendingHead;
        const added = this.#exchange.responseHeaders;
        if (
          raw !== undefined &&
          writeDirectResponse(res, this.#status, responseHeaderList(raw, added), added, held)
        ) {
          this.#pendingHead = undefined;
        } else {
          this.#writePendingHead();
          if (held === undefined) res.end();
          else res.end(Buffer.from(held));
        }
        this.#finish({ kind: "sent", status: this.#status });
        return;
      }
      case "buffer":
        this.#finish({
          kind: "buffered",
          status: this.#status,
          headers: this.#headers!,
          body: this.#chunks!.length === 1 ? this.#chunks![0]! : Buffer.concat(this.#chunks!),
        });
        return;
      case "discard":
        this.#finish({ kind: "retry-status", status: this.#status, retryAfter: this.#retryAfter });
        return;
      default:
        this.#finish({ kind: "failed", error: new Error("upstream completed without a response") });
    }
  }

  onError(error: Error): void {
    if (this.#mode === "stream") {
      // Headers are out: the only honest signal left to the client is a broken response.
      this.#writePendingHead();
      this.#exchange.res.destroy(error);
      this.#finish({ kind: "sent", status: this.#status, error });
      return;
    }
    this.#finish({ kind: "failed", error });
  }

  onUpgrade(statusCode: number, rawHeaders: string[], upstreamSocket: Duplex): void {
    const upgrade = this.#policy.upgrade;
    if (upgrade === undefined) {
      upstreamSocket.destroy();
      this.#finish({ kind: "failed", error: new Error("unexpected upgrade from upstream") });
      return;
    }
    const client = upgrade.socket;
    let head = `HTTP/1.1 ${statusCode} Switching Protocols\r\n`;
    for (let i = 0; i < rawHeaders.length; i += 2) head += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
    const added = this.#exchange.responseHeaders;
    for (const name in added) head += `${name}: ${added[name]}\r\n`;
    this.#mode = "stream";
    const teardown = (): void => {
      client.destroy();
      upstreamSocket.destroy();
    };
    client.on("error", teardown).on("close", teardown);
    upstreamSocket.on("error", teardown).on("close", teardown);
    client.write(`${head}\r\n`);
    if (upgrade.head.length > 0) upstreamSocket.write(upgrade.head);
    upstreamSocket.pipe(client);
    client.pipe(upstreamSocket);
    this.#finish({ kind: "sent", status: statusCode });
  }

  #finish(result: AttemptResult): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#resume !== undefined) this.#exchange.res.removeListener("drain", this.#onDrain);
    this.#resolve(result);
  }
}

function headerValue(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === lowerName.length && raw[i]!.toLowerCase() === lowerName) return raw[i + 1];
  }
  return undefined;
}

/**
 * Upstream response headers as a flat `[name, value, …]` list for `writeHead`, without
 * hop-by-hop headers (and those `Connection` names), and with the layers' headers replacing
 * upstream ones of the same name.
 */
export function responseHeaderList(
  raw: readonly string[],
  added: Readonly<Record<string, string>>,
): string[] {
  const out: string[] = [];
  let listed: Set<string> | undefined;
  let varyFromUpstream: string | undefined;
  let hasAdded = false;
  for (const _ in added) {
    hasAdded = true;
    break;
  }
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (isHopByHop(lower)) {
      if (lower === "connection") listed = connectionListed(raw[i + 1]);
      continue;
    }
    if (hasAdded && lower in added) {
      if (lower === "vary") varyFromUpstream = raw[i + 1];
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (listed !== undefined) {
    for (let i = out.length - 2; i >= 0; i -= 2) {
      if (listed.has(out[i]!.toLowerCase())) out.splice(i, 2);
    }
  }
  if (hasAdded) {
    for (const name in added) {
      out.push(
        name,
        name === "vary" && varyFromUpstream !== undefined
          ? mergeVary(varyFromUpstream, added[name]!)
          : added[name]!,
      );
    }
  }
  return out;
}

/** Upstream response headers as an object of lower-case names (repeated ones as arrays), hop-by-hop removed. */
export function headerObject(raw: readonly string[]): ResponseHeaders {
  const out: Record<string, string | string[]> = {};
  let listed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (isHopByHop(lower)) {
      if (lower === "connection") listed = connectionListed(value);
      continue;
    }
    const existing = out[lower];
    if (existing === undefined) out[lower] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[lower] = [existing, value];
  }
  if (listed !== undefined) for (const name of listed) delete out[name];
  return out;
}
