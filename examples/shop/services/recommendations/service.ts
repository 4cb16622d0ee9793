import { defineService, problem } from "@flotilla/service";
import type { ShopService } from "../../lib/shop-service.ts";
import { type SimulatedFaults, simulateCall } from "../../lib/simulated-latency.ts";
import { subjectOf, subjectStep } from "../../lib/subject-step.ts";
import { recommendations } from "./contract.ts";

const picks = ["p-espresso", "p-grinder", "p-kettle", "p-mug"];

/** Options of {@link recommendationsShopService}. */
export interface RecommendationsOptions {
  /** Latency and failure rate of every answer. */
  readonly faults?: SimulatedFaults;
}

/**
 * The recommendations service: a stand-in for a slow model. Each answer waits `latencyMs` and
 * fails (503) at `failureRate`, so the gateway's breaker and the dashboard's fallback show.
 */
export function recommendationsShopService(options: RecommendationsOptions = {}): ShopService {
  const service = defineService({
    contract: recommendations,
    pipeline: [subjectStep()],
    handlers: {
      async forMe(_input, ctx) {
        if (await simulateCall(options.faults ?? {}, ctx.signal)) {
          throw problem(503, "the recommendation model is overloaded", {
            code: "RECOMMENDATIONS_UNAVAILABLE",
          });
        }
        // A stable pick per user, so repeated calls agree.
        const user = subjectOf(ctx);
        const offset = [...user].reduce((sum, char) => sum + char.charCodeAt(0), 0) % picks.length;
        const items = [0, 1].map((i) => picks[(offset + i) % picks.length]!);
        return { items: items.map((productId) => ({ productId, reason: "customers like you bought it" })) };
      },
    },
  });
  return { service, defaults: {}, hooks: {} };
}
