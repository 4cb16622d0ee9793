import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "@flotilla/observability";
import { upgradeResponse, wireProtocol } from "./wire-protocol.js";
import { type WireHandler, WireSession } from "./wire-session.js";

/** Options of {@link WireServer}. */
export interface WireServerOptions {
  /** The largest frame accepted, in bytes; a larger call is answered 413 and its bytes skipped. */
  readonly maxFrameBytes: number;
  /** Calls served at once per connection; more are answered 503. */
  readonly maxCallsPerConnection: number;
  readonly logger: Logger;
}

/**
 * Accepts wire connections on an HTTP server's port: its {@link WireServer.upgrade} is the
 * server's `upgrade` listener. Other upgrade requests get a 400, and new connections a 503 once
 * the server goes away.
 */
export class WireServer {
  readonly #handler: WireHandler;
  readonly #options: WireServerOptions;
  readonly #sessions = new Set<WireSession>();
  #accepting = true;

  constructor(handler: WireHandler, options: WireServerOptions) {
    this.#handler = handler;
    this.#options = options;
  }

  /** Open wire connections. */
  get connections(): number {
    return this.#sessions.size;
  }

  /** The `upgrade` listener of the HTTP server. */
  readonly upgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    const token = req.headers.upgrade?.toLowerCase();
    const path = req.url;
    if (token !== wireProtocol.token || path !== wireProtocol.path) {
      refuse(
        socket,
        400,
        "Bad Request",
        `this server upgrades only ${wireProtocol.path} to ${wireProtocol.token}`,
      );
      return;
    }
    if (!this.#accepting) {
      refuse(socket, 503, "Service Unavailable", "this instance is shutting down");
      return;
    }
    socket.setNoDelay(true);
    // A peer that vanished without a FIN would otherwise hold its connection for ever.
    socket.setKeepAlive(true, wireProtocol.keepAliveMs);
    socket.write(upgradeResponse);
    const session = new WireSession(socket, this.#handler, {
      maxFrameBytes: this.#options.maxFrameBytes,
      maxCalls: this.#options.maxCallsPerConnection,
      logger: this.#options.logger,
      onClose: (s) => this.#sessions.delete(s),
    });
    this.#sessions.add(session);
    session.push(head);
  };

  /** Refuses new connections and asks every client to move its new calls elsewhere. */
  goAway(): void {
    this.#accepting = false;
    for (const session of this.#sessions) session.goAway();
  }

  /** Closes every connection now. */
  destroy(): void {
    for (const session of this.#sessions) session.destroy();
  }
}

function refuse(socket: Socket, status: number, reason: string, detail: string): void {
  const body = JSON.stringify({ title: reason, status, detail });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
