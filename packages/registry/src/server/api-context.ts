import type { Logger } from "@flotilla/observability";
import type { Store } from "../store/store.js";
import type { BlockingWaits } from "./blocking-query.js";
import type { RegistryCounters } from "./registry-counters.js";
import type { ResolvedRegistryServerOptions } from "./registry-server-options.js";
import type { RegistryView } from "./registry-view.js";
import type { SseHub } from "./sse-hub.js";

/** What the route handlers of the registry server share. */
export interface ApiContext {
  readonly options: ResolvedRegistryServerOptions;
  readonly store: Store;
  readonly view: RegistryView;
  readonly waits: BlockingWaits;
  readonly streams: SseHub;
  readonly counters: RegistryCounters;
  readonly logger: Logger;
}
