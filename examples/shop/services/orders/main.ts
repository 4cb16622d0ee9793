// The orders service process, as `flotilla up` starts it: the order saga's orchestrator, the
// outbox relay and an admin port (sagas, dead letters) run beside the HTTP service.
import { runService } from "@flotilla/service";
import { z } from "zod";
import { envSettings } from "../../lib/env-settings.ts";
import { connectTransport, messagingConnector, messagingSettings } from "../../lib/messaging.ts";
import { ordersAdmin } from "./admin.ts";
import { ordersShopService } from "./service.ts";

const env = envSettings(
  z.object({
    ORDERS_ADMIN_PORT: z.coerce.number().int().min(0).max(65_535).default(0),
    FLOTILLA_REGISTRY_URL: z.string().min(1).optional(),
    FLOTILLA_INSTANCE_ID: z.string().min(1).optional(),
  }),
);
const settings = messagingSettings();
const shop = ordersShopService({
  connect: (runtime) =>
    messagingConnector({
      transport: (logger) => connectTransport(settings, logger),
      namespace: settings.namespace,
      ...(runtime.outbox === undefined ? {} : { outbox: runtime.outbox }),
      start: runtime.start,
    }),
  onStarted: ordersAdmin({
    port: env.ORDERS_ADMIN_PORT,
    ...(env.FLOTILLA_REGISTRY_URL === undefined
      ? {}
      : { registryUrl: env.FLOTILLA_REGISTRY_URL.split(",")[0]! }),
    ...(env.FLOTILLA_INSTANCE_ID === undefined ? {} : { instanceId: env.FLOTILLA_INSTANCE_ID }),
  }),
});
await runService(shop.service, { defaults: shop.defaults, ...shop.hooks });
