import type { Duplex } from "node:stream";
import type { Exchange } from "../chain/exchange.js";

/** The client side of an HTTP/1.1 `Upgrade` request (WebSocket): its socket and the bytes read past the head. */
export interface UpgradeRequest {
  readonly socket: Duplex;
  readonly head: Buffer;
  /** The `Upgrade` protocol the client asked for (`websocket`). */
  readonly protocol: string;
}

const upgrades = new WeakMap<Exchange, UpgradeRequest>();

/** Marks `exchange` as an upgrade: the upstream step then tunnels it instead of proxying a response. */
export function markUpgrade(exchange: Exchange, upgrade: UpgradeRequest): void {
  upgrades.set(exchange, upgrade);
}

/** The upgrade `exchange` asks for, if any. */
export function upgradeOf(exchange: Exchange): UpgradeRequest | undefined {
  return upgrades.get(exchange);
}
