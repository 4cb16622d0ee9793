// The shipping service process, as `flotilla up` starts it.
import { runService } from "@flotilla/service";
import { shippingShopService } from "./service.ts";

const shop = shippingShopService();
await runService(shop.service, { defaults: shop.defaults, ...shop.hooks });
