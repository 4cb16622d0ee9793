import type { ServiceInstance } from "@flotilla/registry";
import type { ExchangeResult } from "../client/http-exchange.js";
import { WireConnection, type WireRequest } from "./wire-connection.js";
import { wireProtocol } from "./wire-protocol.js";

/** Options of {@link WireConnections}. */
export interface WireConnectionsOptions {
  /** The largest response body accepted, in bytes. */
  readonly maxResponseBytes: number;
  /** How long a new connection's upgrade may take before its calls go over HTTP. Default 5 000. */
  readonly handshakeTimeoutMs?: number;
  /** Milliseconds to use HTTP only with an instance that refused the upgrade. Default 30 000. */
  readonly refusedForMs?: number;
  /** Monotonic milliseconds. */
  readonly now: () => number;
}

/** Room for a response's head on top of the body limit. */
const headAllowance = 64 * 1024;

/**
 * One multiplexed wire connection per instance that advertises the protocol, opened on the first
 * call and replaced when it goes away or fails. An instance that refuses the upgrade is left to
 * HTTP for a while.
 */
export class WireConnections {
  readonly #options: WireConnectionsOptions;
  readonly #connections = new Map<string, WireConnection>();
  /** Every connection not closed yet, retired ones included. */
  readonly #live = new Set<WireConnection>();
  readonly #refusedUntil = new Map<string, number>();
  #closed = false;

  constructor(options: WireConnectionsOptions) {
    this.#options = options;
  }

  /** Whether calls to `instance` should go over the wire now. */
  accepts(instance: ServiceInstance): boolean {
    if (this.#closed || instance.metadata[wireProtocol.metadataKey] !== wireProtocol.version) return false;
    if (this.#refusedUntil.size === 0) return true;
    const until = this.#refusedUntil.get(instance.id);
    if (until === undefined) return true;
    if (this.#options.now() < until) return false;
    this.#refusedUntil.delete(instance.id);
    return true;
  }

  /** Remembers that `instance` refused the upgrade. */
  refused(instance: ServiceInstance): void {
    this.#refusedUntil.set(instance.id, this.#options.now() + (this.#options.refusedForMs ?? 30_000));
  }

  /** Sends one call to `instance` over its connection. */
  exchange(
    instance: ServiceInstance,
    request: WireRequest,
    headers: Readonly<Record<string, string>>,
    signal: AbortSignal | undefined,
  ): Promise<ExchangeResult> {
    const key = `${instance.address}|${instance.port}`;
    let connection = this.#connections.get(key);
    if (connection === undefined || !connection.usable) {
      connection = new WireConnection({
        host: instance.address,
        port: instance.port,
        maxFrameBytes: this.#options.maxResponseBytes + headAllowance,
        handshakeTimeoutMs: this.#options.handshakeTimeoutMs ?? 5_000,
        onRetire: (retired) => {
          if (this.#connections.get(key) === retired) this.#connections.delete(key);
        },
      });
      const opened = connection;
      this.#live.add(opened);
      void opened.closed.then(() => this.#live.delete(opened));
      this.#connections.set(key, connection);
    }
    return connection.exchange(request, headers, signal);
  }

  /** Opens no more connections, closes each one once its pending calls are answered, and resolves when all are closed. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#connections.clear();
    const live = [...this.#live];
    for (const connection of live) connection.close();
    await Promise.all(live.map((c) => c.closed));
  }
}
