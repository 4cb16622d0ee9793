// The reviews service process, as `flotilla up` starts it.
import { runService } from "@flotilla/service";
import { reviewsShopService } from "./service.ts";

const shop = reviewsShopService();
await runService(shop.service, { defaults: shop.defaults, ...shop.hooks });
