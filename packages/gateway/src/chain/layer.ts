import type { Exchange } from "./exchange.js";
import type { GatewayResponse } from "./gateway-response.js";

/** Runs the rest of the chain: the next layers and finally the upstream. */
export type Next = () => Promise<GatewayResponse>;

/**
 * One step of the request chain (chain of responsibility). A layer either answers by itself
 * (401, 429, a cache hit) or calls `next()` and returns what it gives, possibly changed.
 * Layers are built once per route at configuration time; `handle` runs per request and must
 * not throw for a client's mistake — it returns a problem response instead.
 */
export interface Layer {
  /** Stable name, used in logs, metrics and the lifecycle diagram (`authentication`, `rate-limit`). */
  readonly name: string;
  handle(exchange: Exchange, next: Next): Promise<GatewayResponse>;
  /** Releases timers and connections; called when a configuration is replaced or the gateway stops. */
  close?(): Promise<void>;
}
