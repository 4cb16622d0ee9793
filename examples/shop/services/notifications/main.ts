// The notifications service process, as `flotilla up` starts it: consumes order.confirmed.
import { runService } from "@flotilla/service";
import { z } from "zod";
import { envSettings } from "../../lib/env-settings.ts";
import { connectTransport, messagingConnector, messagingSettings } from "../../lib/messaging.ts";
import { Notifier, SimulatedChannel } from "./notifier.ts";
import { notificationsShopService } from "./service.ts";

const env = envSettings(
  z.object({
    NOTIFICATIONS_PUSH_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
    NOTIFICATIONS_EMAIL_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
  }),
);
const settings = messagingSettings();
const shop = notificationsShopService({
  notifier: new Notifier({
    push: new SimulatedChannel("push", { failureRate: env.NOTIFICATIONS_PUSH_FAILURE_RATE }),
    email: new SimulatedChannel("email", { failureRate: env.NOTIFICATIONS_EMAIL_FAILURE_RATE }),
  }),
  connect: (consumers) =>
    messagingConnector({
      transport: (logger) => connectTransport(settings, logger),
      namespace: settings.namespace,
      consumers,
    }),
});
await runService(shop.service, { defaults: shop.defaults, ...shop.hooks });
