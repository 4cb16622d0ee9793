import { consumer, type Outbox, on, outbox } from "@flotilla/messaging";
import { type DatabaseConnector, defineService, problem } from "@flotilla/service";
import type pg from "pg";
import { stockLow } from "../../events/stock-low.ts";
import type { MessagingConnectorOptions } from "../../lib/messaging.ts";
import type { ShopService } from "../../lib/shop-service.ts";
import { inventory } from "./contract.ts";

/**
 * Serialises the reservations and the whole-order release of one order (a transaction-scoped
 * advisory lock), so that a reservation either commits before the release sees it or sees the
 * order released.
 */
async function lockOrder(tx: pg.ClientBase, orderId: string): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`inventory:order:${orderId}`]);
}

/** What {@link InventoryOptions.connect} is given: the outbox to relay and the consumers to run. */
export interface InventoryRuntime {
  readonly outbox: Outbox;
  readonly consumers: NonNullable<MessagingConnectorOptions["consumers"]>;
}

/** Options of {@link inventoryShopService}. */
export interface InventoryOptions {
  /**
   * Builds the database connector (`messagingConnector` in a process) that relays the outbox and
   * runs the consumers; without it the service gets the default connector and no messaging.
   */
  readonly connect?: (runtime: InventoryRuntime) => DatabaseConnector;
  /** Units a simulated supplier delivers when a product runs low. Default 20. */
  readonly restockQuantity?: number;
}

/**
 * The inventory service: all-or-nothing reservations in one transaction, which also writes
 * `stock.low` to the outbox when a reservation takes a product below its restock threshold. Its
 * restock consumer reacts to `stock.low` (choreography: nobody orders the restock) by adding
 * `restockQuantity` units, once per event thanks to the inbox. `releaseOrder` releases by order
 * and closes it, for a compensation that does not know whether its reservation happened.
 */
export function inventoryShopService(options: InventoryOptions = {}): ShopService {
  const inventoryOutbox = outbox({ source: "/services/inventory" });
  const restockQuantity = options.restockQuantity ?? 20;
  const service = defineService({
    contract: inventory,
    database: { migrations: new URL("./migrations/", import.meta.url) },
    handlers: {
      async reserve({ body }, ctx) {
        return ctx.db.transaction(async (tx) => {
          await lockOrder(tx, body.orderId);
          const released = await tx.query("SELECT 1 FROM released_orders WHERE order_id = $1", [
            body.orderId,
          ]);
          if (released.rows.length > 0) {
            throw problem(409, `order ${body.orderId} was released and takes no more reservations`, {
              code: "INVENTORY_ORDER_RELEASED",
            });
          }
          const { rows } = await tx.query<{ id: string }>(
            "INSERT INTO reservations (order_id, status) VALUES ($1, 'reserved') RETURNING id::text",
            [body.orderId],
          );
          const reservationId = rows[0]!.id;
          // Sorted, so two reservations of the same products lock their rows in the same order.
          const items = [...body.items].sort((a, b) => a.sku.localeCompare(b.sku));
          for (const item of items) {
            const taken = await tx.query<{ available: number; threshold: number }>(
              `UPDATE stock SET available = available - $2 WHERE sku = $1 AND available >= $2
               RETURNING available, restock_threshold AS threshold`,
              [item.sku, item.quantity],
            );
            const row = taken.rows[0];
            if (row === undefined) {
              throw problem(409, `not enough ${item.sku} in stock`, {
                code: "INVENTORY_OUT_OF_STOCK",
                extensions: { sku: item.sku },
              });
            }
            await tx.query(
              "INSERT INTO reservation_items (reservation_id, sku, quantity) VALUES ($1, $2, $3)",
              [reservationId, item.sku, item.quantity],
            );
            if (row.available < row.threshold && row.available + item.quantity >= row.threshold) {
              await inventoryOutbox.publish(
                tx,
                stockLow,
                { sku: item.sku, available: row.available, threshold: row.threshold },
                { key: item.sku },
              );
            }
          }
          ctx.logger.info({ orderId: body.orderId, reservationId }, "reserved");
          return { reservationId, status: "reserved" as const };
        });
      },
      async release({ params }, ctx) {
        return ctx.db.transaction(async (tx) => {
          const released = await tx.query(
            "UPDATE reservations SET status = 'released' WHERE id = $1 AND status = 'reserved' RETURNING id",
            [params.id],
          );
          if (released.rowCount === 1) {
            await tx.query(
              `UPDATE stock SET available = stock.available + i.quantity
                 FROM reservation_items i WHERE i.reservation_id = $1 AND i.sku = stock.sku`,
              [params.id],
            );
            return { reservationId: params.id, status: "released" as const };
          }
          const { rows } = await tx.query("SELECT 1 FROM reservations WHERE id = $1", [params.id]);
          if (rows.length === 0)
            throw problem(404, `no reservation ${params.id}`, { code: "INVENTORY_NOT_FOUND" });
          return { reservationId: params.id, status: "released" as const };
        });
      },
      async releaseOrder({ params }, ctx) {
        const reservations = await ctx.db.transaction(async (tx) => {
          await lockOrder(tx, params.orderId);
          await tx.query("INSERT INTO released_orders (order_id) VALUES ($1) ON CONFLICT DO NOTHING", [
            params.orderId,
          ]);
          const released = await tx.query<{ id: string }>(
            `UPDATE reservations SET status = 'released' WHERE order_id = $1 AND status = 'reserved'
             RETURNING id::text`,
            [params.orderId],
          );
          if (released.rows.length > 0) {
            await tx.query(
              `UPDATE stock SET available = stock.available + i.quantity
                 FROM (SELECT sku, sum(quantity)::int AS quantity FROM reservation_items
                        WHERE reservation_id = ANY($1::uuid[]) GROUP BY sku) i
                WHERE i.sku = stock.sku`,
              [released.rows.map((row) => row.id)],
            );
          }
          const { rows } = await tx.query<{ reservationId: string; status: "reserved" | "released" }>(
            `SELECT id::text AS "reservationId", status FROM reservations WHERE order_id = $1 ORDER BY created_at`,
            [params.orderId],
          );
          return rows;
        });
        ctx.logger.info({ orderId: params.orderId, reservations: reservations.length }, "order released");
        return { orderId: params.orderId, reservations };
      },
      async stock({ params }, ctx) {
        const { rows } = await ctx.db.query<{ available: number }>(
          "SELECT available FROM stock WHERE sku = $1",
          [params.sku],
        );
        if (rows[0] === undefined)
          throw problem(404, `no SKU ${params.sku}`, { code: "INVENTORY_NOT_FOUND" });
        return { sku: params.sku, available: rows[0].available };
      },
    },
  });
  return {
    service,
    defaults: {},
    hooks:
      options.connect === undefined
        ? {}
        : {
            connectDatabase: options.connect({
              outbox: inventoryOutbox,
              consumers: ({ pool, transport, logger, queue }) => [
                consumer({
                  name: queue("inventory-restock"),
                  transport,
                  db: pool,
                  logger,
                  retention: { olderThan: "7d" },
                  handlers: [
                    on(stockLow, async (event, { tx }) => {
                      const { rows } = await tx!.query<{ available: number }>(
                        "UPDATE stock SET available = available + $2 WHERE sku = $1 RETURNING available",
                        [event.data.sku, restockQuantity],
                      );
                      logger.info({ sku: event.data.sku, available: rows[0]?.available }, "restocked");
                    }),
                  ],
                }),
              ],
            }),
          },
  };
}
