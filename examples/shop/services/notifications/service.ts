import { consumer, on } from "@flotilla/messaging";
import { type DatabaseConnector, defineService } from "@flotilla/service";
import { orderConfirmed } from "../../events/order-confirmed.ts";
import type { MessagingConnectorOptions } from "../../lib/messaging.ts";
import type { ShopService } from "../../lib/shop-service.ts";
import { notifications } from "./contract.ts";
import type { Notifier } from "./notifier.ts";

/** Options of {@link notificationsShopService}. */
export interface NotificationsOptions {
  readonly notifier: Notifier;
  /** Builds the connector (`messagingConnector` in a process) that starts the given consumers. */
  readonly connect: (consumers: NonNullable<MessagingConnectorOptions["consumers"]>) => DatabaseConnector;
}

/**
 * The notifications service: consumes `order.confirmed` exactly once — the inbox records the
 * message id in the same transaction as the notification row — and delivers it by push, e-mail or
 * the later queue.
 */
export function notificationsShopService(options: NotificationsOptions): ShopService {
  const service = defineService({
    contract: notifications,
    database: { migrations: new URL("./migrations/", import.meta.url) },
    handlers: {
      async ofOrder({ params }, ctx) {
        const { rows } = await ctx.db.query<{
          channel: "push" | "email" | "queued";
          body: string;
          messageId: string;
        }>(
          `SELECT channel, body, message_id AS "messageId" FROM notifications WHERE order_id = $1 ORDER BY id`,
          [params.orderId],
        );
        return { notifications: rows };
      },
    },
  });
  const connectDatabase = options.connect(({ pool, transport, logger, queue }) => [
    consumer({
      name: queue("notifications"),
      transport,
      db: pool,
      logger,
      retention: { olderThan: "7d" },
      handlers: [
        on(orderConfirmed, async (event, { tx }) => {
          const db = tx!;
          const { orderId, userId, totalCents } = event.data;
          const notification = {
            orderId,
            userId,
            body: `Your order ${orderId} (${(totalCents / 100).toFixed(2)} EUR) is confirmed and on its way.`,
          };
          const delivery = await options.notifier.deliver(notification, {
            enqueue: async () => {
              const { rows } = await db.query<{ id: string }>(
                "INSERT INTO notification_queue (order_id, user_id, body) VALUES ($1, $2, $3) RETURNING id::text",
                [orderId, userId, notification.body],
              );
              return rows[0]!.id;
            },
          });
          await db.query(
            "INSERT INTO notifications (order_id, user_id, channel, body, message_id) VALUES ($1, $2, $3, $4, $5)",
            [orderId, userId, delivery.channel, notification.body, event.id],
          );
          logger.info({ orderId, channel: delivery.channel }, "notification delivered");
        }),
      ],
    }),
  ]);
  return { service, defaults: {}, hooks: { connectDatabase } };
}
