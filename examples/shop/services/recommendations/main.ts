// The recommendations service process, as `flotilla up` starts it: slow and flaky on purpose.
import { runService } from "@flotilla/service";
import { z } from "zod";
import { envSettings } from "../../lib/env-settings.ts";
import { recommendationsShopService } from "./service.ts";

const env = envSettings(
  z.object({
    RECOMMENDATIONS_LATENCY_MS: z.coerce.number().int().nonnegative().default(300),
    RECOMMENDATIONS_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0.3),
  }),
);
const shop = recommendationsShopService({
  faults: { latencyMs: env.RECOMMENDATIONS_LATENCY_MS, failureRate: env.RECOMMENDATIONS_FAILURE_RATE },
});
await runService(shop.service, { defaults: shop.defaults, ...shop.hooks });
