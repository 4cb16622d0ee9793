// The payments service process, as `flotilla up` starts it.
import { runService } from "@flotilla/service";
import { z } from "zod";
import { envSettings } from "../../lib/env-settings.ts";
import { paymentsShopService } from "./service.ts";

const env = envSettings(
  z.object({
    PAYMENTS_LATENCY_MS: z.coerce.number().int().nonnegative().default(20),
    PAYMENTS_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
    PAYMENTS_ANSWER_DELAY_MS: z.coerce.number().int().nonnegative().default(0),
  }),
);
const shop = paymentsShopService({
  provider: { latencyMs: env.PAYMENTS_LATENCY_MS, failureRate: env.PAYMENTS_FAILURE_RATE },
  answerDelay: { ms: env.PAYMENTS_ANSWER_DELAY_MS },
});
await runService(shop.service, { defaults: shop.defaults, ...shop.hooks });
