// The catalog service process, as `flotilla up` starts it.
import { runService } from "@flotilla/service";
import { z } from "zod";
import { envSettings } from "../../lib/env-settings.ts";
import { catalogShopService } from "./service.ts";

const env = envSettings(
  z.object({ CATALOG_MAX_AGE_SECONDS: z.coerce.number().int().nonnegative().default(30) }),
);
const shop = catalogShopService({ maxAgeSeconds: env.CATALOG_MAX_AGE_SECONDS });
await runService(shop.service, { defaults: shop.defaults, ...shop.hooks });
