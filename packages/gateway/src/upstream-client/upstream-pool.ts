import { connect as connectTcp, isIP } from "node:net";
import { connect as connectTls } from "node:tls";
import { UpstreamClientError, UpstreamClientErrorCode } from "./upstream-client-error.js";
import { type ConnectionOwner, UpstreamConnection } from "./upstream-connection.js";
import type { UpstreamHandler, UpstreamRequestOptions } from "./upstream-handler.js";

/** Options of {@link upstreamPool}. */
export interface UpstreamPoolOptions {
  /** Idle connections are closed after this long; keep it below the upstreams' own (Node: 5 s). Default 4 s. */
  readonly keepAliveTimeoutMs?: number;
  /** How often deadlines and idle connections are checked. Default 100 ms. */
  readonly tickMs?: number;
}

interface Origin {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly servername: string;
  readonly idle: UpstreamConnection[];
}

/**
 * The gateway's upstream HTTP/1.1 client: keep-alive connections per origin (most recently used
 * first, so a quiet pool shrinks), one request per connection at a time, deadlines checked by one
 * timer for the whole pool instead of one per request. What it saves over a general-purpose client
 * — request objects, header re-validation, per-request timers — is most of a proxy's cost per
 * request (see bench/gateway).
 */
export class UpstreamPool implements ConnectionOwner {
  readonly #origins = new Map<string, Origin>();
  // Every open connection, busy or idle: changed only when one opens or closes, never per request.
  // An add and a delete per request made V8 rehash the set's table every few dozen requests, each
  // new table allocated in the old generation once the set lived there (seen in heap profiles).
  readonly #open = new Set<UpstreamConnection>();
  readonly #keepAliveTimeoutMs: number;
  readonly #readBuffer = Buffer.allocUnsafe(64 * 1024);
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(options: UpstreamPoolOptions = {}) {
    this.#keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 4_000;
    this.#timer = setInterval(() => this.#tick(), options.tickMs ?? 100);
    this.#timer.unref();
  }

  /** Sends a request; the handler hears how it ends. Never throws. */
  dispatch(options: UpstreamRequestOptions, handler: UpstreamHandler): void {
    if (this.#closed) {
      handler.onError(
        new UpstreamClientError(UpstreamClientErrorCode.Closed, "the upstream pool is closed", {
          unsent: true,
        }),
      );
      return;
    }
    let origin = this.#origins.get(options.origin);
    if (origin === undefined) {
      try {
        origin = parseOrigin(options.origin);
      } catch (error) {
        handler.onError(error as Error);
        return;
      }
      this.#origins.set(options.origin, origin);
    }
    // An upgrade hands its socket over as a stream: it gets a connection of its own that reads
    // through the stream interface rather than into the pool's shared read buffer.
    let connection = options.upgrade === undefined ? origin.idle.pop() : this.#connect(origin, true);
    // Skip connections that closed while idle.
    while (connection?.dead === true) connection = origin.idle.pop();
    connection ??= this.#connect(origin, false);
    connection.start(options, handler, performance.now());
  }

  /** Connections open now: in use and idle. */
  get connections(): number {
    return this.#open.size;
  }

  release(connection: UpstreamConnection): void {
    if (this.#closed) {
      connection.destroy();
      return;
    }
    connection.idleSince = performance.now();
    const origin = this.#originOf(connection);
    if (origin === undefined) connection.destroy();
    else origin.idle.push(connection);
  }

  remove(connection: UpstreamConnection): void {
    this.#open.delete(connection);
  }

  redispatch(options: UpstreamRequestOptions, handler: UpstreamHandler): void {
    const origin = this.#origins.get(options.origin);
    if (origin === undefined || this.#closed) {
      handler.onError(
        new UpstreamClientError(UpstreamClientErrorCode.SocketClosed, "the upstream closed the connection", {
          unsent: true,
        }),
      );
      return;
    }
    const connection = this.#connect(origin, options.upgrade !== undefined);
    connection.start(options, handler, performance.now());
  }

  /** Closes every connection; requests in progress fail. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const c of [...this.#open]) c.destroy();
    for (const o of this.#origins.values()) for (const c of o.idle.splice(0)) c.destroy();
  }

  #connect(origin: Origin, asStream: boolean): UpstreamConnection {
    let connection: UpstreamConnection | undefined;
    const socket = origin.tls
      ? connectTls({
          host: origin.host,
          port: origin.port,
          servername: origin.servername,
          ALPNProtocols: ["http/1.1"],
        })
      : asStream
        ? connectTcp({ host: origin.host, port: origin.port })
        : // Reads land in one buffer shared by the pool's plain connections, handed to the
          // connection's parser in the read's own callback: no buffer allocated per read and no
          // readable-stream machinery (https://nodejs.org/api/net.html#socketconnectoptions-connectlistener).
          connectTcp({
            host: origin.host,
            port: origin.port,
            onread: {
              buffer: this.#readBuffer,
              callback: (bytes: number) => connection!.onRead(bytes),
            },
          });
    connection = new UpstreamConnection(socket, this, origin.tls || asStream ? undefined : this.#readBuffer);
    connectionOrigins.set(connection, origin);
    this.#open.add(connection);
    return connection;
  }

  #originOf(connection: UpstreamConnection): Origin | undefined {
    return connectionOrigins.get(connection);
  }

  #tick(): void {
    const now = performance.now();
    for (const c of this.#open) {
      if (c.headersDeadline !== 0 && now > c.headersDeadline)
        c.timeout(UpstreamClientErrorCode.HeadersTimeout);
      else if (c.bodyDeadline !== 0 && now > c.bodyDeadline) c.timeout(UpstreamClientErrorCode.BodyTimeout);
    }
    const expiry = now - this.#keepAliveTimeoutMs;
    for (const o of this.#origins.values()) {
      // Oldest first: the stack's bottom has been idle longest.
      while (o.idle.length > 0 && (o.idle[0]!.dead || o.idle[0]!.idleSince < expiry))
        o.idle.shift()!.destroy();
    }
  }
}

const connectionOrigins = new WeakMap<UpstreamConnection, Origin>();

/** Builds an {@link UpstreamPool}. */
export function upstreamPool(options?: UpstreamPoolOptions): UpstreamPool {
  return new UpstreamPool(options);
}

function parseOrigin(origin: string): Origin {
  const url = new URL(origin);
  const tls = url.protocol === "https:";
  if (!tls && url.protocol !== "http:") {
    throw new UpstreamClientError(
      UpstreamClientErrorCode.BadResponse,
      `unsupported upstream protocol ${url.protocol}`,
      { unsent: true },
    );
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return {
    host,
    port: url.port === "" ? (tls ? 443 : 80) : Number(url.port),
    tls,
    // SNI carries host names only (RFC 6066 §3).
    servername: isIP(host) === 0 ? host : "",
    idle: [],
  };
}
