import { randomUUID } from "node:crypto";
import { outbox, type Transport } from "@flotilla/messaging";
import type { Logger } from "@flotilla/observability";
import { defaultParticipantTables, type Orchestrator, orchestrator } from "@flotilla/saga";
import {
  type DatabaseConnector,
  defaultClientsFactory,
  defineService,
  type HandlerDatabase,
  isRemoteServiceError,
  problem,
} from "@flotilla/service";
import type pg from "pg";
import { orderPlaced } from "../../events/order-placed.ts";
import type { MessagingConnectorOptions } from "../../lib/messaging.ts";
import type { ShopService } from "../../lib/shop-service.ts";
import { subjectOf, subjectStep } from "../../lib/subject-step.ts";
import { catalog } from "../catalog/contract.ts";
import { inventory } from "../inventory/contract.ts";
import { payments } from "../payments/contract.ts";
import { shipping } from "../shipping/contract.ts";
import { orders } from "./contract.ts";
import { type OrderParticipants, type OrderSaga, orderSaga } from "./order-saga.ts";

interface OrderRow extends Record<string, unknown> {
  orderId: string;
  userId: string;
  status: "pending" | "confirmed" | "cancelled";
  totalCents: number;
  items: { productId: string; quantity: number }[];
  shipmentId: string | null;
  cancelReason: string | null;
  createdAt: string;
}

const orderColumns = `id AS "orderId", user_id AS "userId", status, total_cents AS "totalCents", items,
  shipment_id AS "shipmentId", cancel_reason AS "cancelReason",
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt"`;

async function ordersOf(db: HandlerDatabase, userId: string, limit: number): Promise<{ orders: OrderRow[] }> {
  const { rows } = await db.query<OrderRow>(
    `SELECT ${orderColumns} FROM orders WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2`,
    [userId, limit],
  );
  return { orders: rows };
}

/** What the orders process runs beside its database: what {@link ordersShopService} hands to its connector. */
export interface OrdersRuntime {
  /** Starts the orchestrator on the pool; resolves with its stop function. */
  readonly start: NonNullable<MessagingConnectorOptions["start"]>;
  readonly outbox: MessagingConnectorOptions["outbox"];
}

/** What {@link OrdersOptions.onStarted} is given. */
export interface OrdersStarted {
  readonly sagas: Orchestrator;
  readonly transport: Transport;
  readonly logger: Logger;
}

/** Options of {@link ordersShopService}. */
export interface OrdersOptions {
  /** Builds the database connector (`messagingConnector` in a process) that relays the outbox and calls `start`. */
  readonly connect: (runtime: OrdersRuntime) => DatabaseConnector;
  /** How often idle orchestrators look for sagas to claim. Default `"250ms"`. */
  readonly sagaPollInterval?: string;
  /** Called once the orchestrator runs (an admin port mounts its API); closed before it stops. */
  readonly onStarted?: (context: OrdersStarted) => Promise<{ close(): Promise<void> }>;
}

/**
 * The orders service: stores orders and runs the order saga with a durable orchestrator on its own
 * database. `order.placed` is written to the outbox with the order, the saga is started in the same
 * transaction, and its last step (or its compensation) publishes `order.confirmed` or
 * `order.cancelled` the same way.
 */
export function ordersShopService(options: OrdersOptions): ShopService {
  const ordersOutbox = outbox({ source: "/services/orders" });
  let pool: pg.Pool | undefined;
  let sagas: Orchestrator | undefined;
  let resolveParticipants: (participants: OrderParticipants) => void = () => {};
  const participants = new Promise<OrderParticipants>((resolve) => {
    resolveParticipants = resolve;
  });
  const saga: OrderSaga = orderSaga({
    pool: () => {
      if (pool === undefined) throw new Error("orders: the database is not connected");
      return pool;
    },
    participants: () => participants,
    outbox: ordersOutbox,
    sagaError: async (sagaId) => (await sagas?.get(sagaId))?.saga.error ?? null,
  });
  const running = (): Orchestrator => {
    if (sagas === undefined)
      throw problem(503, "the saga orchestrator is not running", { code: "ORDERS_NOT_READY" });
    return sagas;
  };

  const service = defineService({
    contract: orders,
    dependencies: { catalog, payments, inventory, shipping },
    database: { migrations: new URL("./migrations/", import.meta.url) },
    pipeline: [subjectStep()],
    handlers: {
      async placeOrder({ body }, ctx) {
        const userId = subjectOf(ctx);
        const prices = await Promise.all(
          body.items.map((item) =>
            ctx.clients.catalog.getProduct({ params: { id: item.productId } }).catch((error: unknown) => {
              if (isRemoteServiceError(error) && error.remoteCode === "CATALOG_NOT_FOUND") {
                throw problem(422, `no product ${item.productId}`, { code: "ORDERS_UNKNOWN_PRODUCT" });
              }
              throw error;
            }),
          ),
        );
        const totalCents = body.items.reduce(
          (sum, item, i) => sum + item.quantity * prices[i]!.priceCents,
          0,
        );
        const orderId = randomUUID();
        const orchestrator = running();
        await ctx.db.transaction(async (tx) => {
          await tx.query(
            `INSERT INTO orders (id, user_id, status, total_cents, items, payment_method)
             VALUES ($1, $2, 'pending', $3, $4, $5)`,
            [orderId, userId, totalCents, JSON.stringify(body.items), body.paymentMethod],
          );
          await ordersOutbox.publish(
            tx,
            orderPlaced,
            { orderId, userId, totalCents, items: body.items },
            { key: orderId },
          );
          await orchestrator.startSaga(
            saga,
            {
              orderId,
              userId,
              totalCents,
              paymentMethod: body.paymentMethod,
              items: body.items.map((item) => ({ sku: item.productId, quantity: item.quantity })),
            },
            { tx, id: orderId, correlationId: orderId },
          );
        });
        ctx.logger.info({ orderId, userId, totalCents }, "order placed");
        return { orderId, status: "pending" as const, totalCents };
      },
      async getOrder({ params }, ctx) {
        const { rows } = await ctx.db.query<OrderRow>(`SELECT ${orderColumns} FROM orders WHERE id = $1`, [
          params.id,
        ]);
        const row = rows[0];
        // Someone else's order is answered like a missing one: its existence is not the caller's business.
        if (row === undefined || row.userId !== subjectOf(ctx)) {
          throw problem(404, `no order ${params.id}`, { code: "ORDERS_NOT_FOUND" });
        }
        return row;
      },
      async listUserOrders({ params, query }, ctx) {
        if (params.id !== subjectOf(ctx))
          throw problem(403, "only the user may list their orders", { code: "ORDERS_FORBIDDEN" });
        return ordersOf(ctx.db, params.id, query.limit);
      },
      async myOrders({ query }, ctx) {
        return ordersOf(ctx.db, subjectOf(ctx), query.limit);
      },
    },
  });

  const connectDatabase = options.connect({
    outbox: ordersOutbox,
    start: async ({ pool: servicePool, transport, logger }) => {
      pool = servicePool;
      // The local steps' oncePerKey keys ("flotilla"."saga_participant_keys").
      await defaultParticipantTables.install(servicePool);
      const started = orchestrator({
        db: servicePool,
        sagas: [saga],
        logger,
        pollInterval: options.sagaPollInterval ?? "250ms",
      });
      await started.start();
      sagas = started;
      const extras = await options.onStarted?.({ sagas: started, transport, logger });
      return async () => {
        await extras?.close();
        sagas = undefined;
        await started.close();
      };
    },
  });

  return {
    service,
    defaults: {
      dependencies: {
        catalog: { required: true, policies: { timeout: "2s", retry: { maxAttempts: 3 } } },
        payments: { policies: { timeout: "4s" } },
        inventory: { policies: { timeout: "4s" } },
        shipping: { policies: { timeout: "4s" } },
      },
    },
    hooks: {
      connectDatabase,
      createClients: (request) => {
        const handle = defaultClientsFactory(request);
        resolveParticipants(handle.clients as OrderParticipants);
        return handle;
      },
    },
  };
}
