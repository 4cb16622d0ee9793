// The users service process, as `flotilla up` starts it (FLOTILLA_* environment, see the README).
import { runService } from "@flotilla/service";
import { z } from "zod";
import { envSettings } from "../../lib/env-settings.ts";
import { usersShopService } from "./service.ts";

const env = envSettings(
  z.object({
    USERS_TOKEN_ISSUER: z.string().min(1).default("shop-users"),
    USERS_TOKEN_AUDIENCE: z.string().min(1).default("shop-api"),
    USERS_TOKEN_TTL_SECONDS: z.coerce.number().int().positive().default(3600),
  }),
);
const shop = usersShopService({
  issuer: env.USERS_TOKEN_ISSUER,
  audience: env.USERS_TOKEN_AUDIENCE,
  ttlSeconds: env.USERS_TOKEN_TTL_SECONDS,
});
await runService(shop.service, { defaults: shop.defaults, ...shop.hooks });
