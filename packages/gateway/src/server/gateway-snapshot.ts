import type { CircuitBreaker } from "@flotilla/resilience";
import type { Layer } from "../chain/layer.js";
import type { GatewayConfig, RouteConfig } from "../config/gateway-config.js";
import type { Upstream } from "../proxy/upstream.js";
import type { UpstreamStep } from "../proxy/upstream-step.js";
import type { NormalizePathOptions } from "../router/normalize-path.js";
import type { Router } from "../router/router.js";

/** One route, built: its layers in chain order and its last step. */
export interface GatewayRoute {
  readonly id: string;
  readonly config: RouteConfig;
  readonly layers: readonly Layer[];
  /** The upstream step or a composite endpoint. */
  readonly terminal: Layer;
  readonly upstreamStep: UpstreamStep | undefined;
  readonly breaker: CircuitBreaker | undefined;
}

/**
 * One loaded configuration, built and immutable: what requests are served by. A reload builds
 * a new snapshot beside the old one and swaps it in; requests already running finish on the old
 * one, which is closed when the last of them ends.
 */
export interface GatewaySnapshot {
  /** 1 for the first configuration, +1 per successful reload. */
  readonly version: number;
  readonly loadedAt: Date;
  /** Where it came from: a file path or `inline`. */
  readonly source: string;
  readonly config: GatewayConfig;
  readonly router: Router<GatewayRoute>;
  readonly routes: readonly GatewayRoute[];
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly pathOptions: NormalizePathOptions;
  /** Requests running on this snapshot. */
  inflight: number;
  /** Set when replaced; closed once `inflight` reaches 0. */
  retired: boolean;
  /** Closes the layers' and upstreams' timers and connections. */
  close(): Promise<void>;
}
