import type { Exchange } from "./exchange.js";
import type { GatewayResponse } from "./gateway-response.js";
import type { Layer } from "./layer.js";

/**
 * Runs `layers` in order around `terminal` for one exchange: layer `i`'s `next()` runs layer
 * `i + 1`, the last one's runs the terminal. A route with no layers costs one call.
 */
export function runChain(
  layers: readonly Layer[],
  terminal: Layer,
  exchange: Exchange,
): Promise<GatewayResponse> {
  if (layers.length === 0) return terminal.handle(exchange, noNext);
  return step(layers, terminal, exchange, 0);
}

function step(
  layers: readonly Layer[],
  terminal: Layer,
  exchange: Exchange,
  i: number,
): Promise<GatewayResponse> {
  if (i === layers.length) return terminal.handle(exchange, noNext);
  return layers[i]!.handle(exchange, () => step(layers, terminal, exchange, i + 1));
}

function noNext(): Promise<GatewayResponse> {
  return Promise.reject(new Error("the last step of a chain has no next"));
}
