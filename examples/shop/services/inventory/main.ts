// The inventory service process, as `flotilla up` starts it: its outbox is relayed to the bus and
// its restock consumer reacts to stock.low.
import { runService } from "@flotilla/service";
import { z } from "zod";
import { envSettings } from "../../lib/env-settings.ts";
import { connectTransport, messagingConnector, messagingSettings } from "../../lib/messaging.ts";
import { inventoryShopService } from "./service.ts";

const env = envSettings(
  z.object({ INVENTORY_RESTOCK_QUANTITY: z.coerce.number().int().positive().default(20) }),
);
const settings = messagingSettings();
const shop = inventoryShopService({
  restockQuantity: env.INVENTORY_RESTOCK_QUANTITY,
  connect: ({ outbox, consumers }) =>
    messagingConnector({
      transport: (logger) => connectTransport(settings, logger),
      namespace: settings.namespace,
      outbox,
      consumers,
    }),
});
await runService(shop.service, { defaults: shop.defaults, ...shop.hooks });
