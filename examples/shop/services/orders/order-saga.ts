import { MessagingErrorCode, type Outbox, PermanentError } from "@flotilla/messaging";
import { defineSaga, oncePerKey, participantCallOptions } from "@flotilla/saga";
import { type ClientOf, isRemoteServiceError, withTransaction } from "@flotilla/service";
import type pg from "pg";
import { z } from "zod";
import { orderCancelled } from "../../events/order-cancelled.ts";
import { orderConfirmed } from "../../events/order-confirmed.ts";
import type { inventory } from "../inventory/contract.ts";
import type { payments } from "../payments/contract.ts";
import type { shipping } from "../shipping/contract.ts";

/** The saga's participants as typed clients (from the orders service's own clients). */
export interface OrderParticipants {
  readonly payments: ClientOf<typeof payments>;
  readonly inventory: ClientOf<typeof inventory>;
  readonly shipping: ClientOf<typeof shipping>;
}

/** What the order saga needs at run time; both are known only once the service has started. */
export interface OrderSagaDeps {
  /** The orders database (the saga's local steps write the order's outcome there). */
  readonly pool: () => pg.Pool;
  readonly participants: () => Promise<OrderParticipants>;
  readonly outbox: Outbox;
  /** The error the saga recorded, for the cancellation reason. */
  readonly sagaError: (sagaId: string) => Promise<string | null>;
}

/** Input of the order saga. */
export const orderSagaInput = z.object({
  orderId: z.string(),
  userId: z.string(),
  totalCents: z.number().int().positive(),
  paymentMethod: z.string(),
  items: z.array(z.object({ sku: z.string(), quantity: z.number().int().positive() })).min(1),
});

/**
 * Turns a participant's "no" (a 4xx it chose) into a failure the saga does not retry, worded with the
 * participant's code: `PAYMENTS_DECLINED: the card was declined`.
 */
function refusedBy(code: string) {
  return (error: unknown): never => {
    if (isRemoteServiceError(error) && error.remoteCode === code) {
      throw new PermanentError(`${code}: ${error.detail ?? "refused"}`, { cause: error });
    }
    throw error;
  };
}

const permanentPrefix = `${MessagingErrorCode.Permanent}: `;

/** The saga's recorded error as the order's cancel reason: a participant's refusal without the saga's wrapper code. */
function cancelReason(sagaError: string | null): string {
  if (sagaError === null) return "the order saga was compensated";
  return sagaError.startsWith(permanentPrefix) ? sagaError.slice(permanentPrefix.length) : sagaError;
}

/**
 * The order saga: `order` (compensation: cancel the order, publish `order.cancelled`) →
 * `payment` (refund the order) → `inventory` (release the order) → `shipping`, the pivot →
 * `confirm` (mark the order confirmed, publish `order.confirmed`). The participants' compensations
 * work by order id, so a step whose outcome is uncertain is undone too. Participants get the step's
 * key as `Idempotency-Key`, so a retried or resumed step is applied once; the local steps use
 * `oncePerKey` in the orders database for the same reason.
 */
export function orderSaga(deps: OrderSagaDeps) {
  return defineSaga({ type: "shop.order", input: orderSagaInput, deadline: "2m" })
    .step("order", {
      invoke: () => ({ accepted: true }),
      compensate: async (ctx) => {
        const reason = cancelReason(await deps.sagaError(ctx.sagaId));
        await withTransaction(deps.pool(), (tx) =>
          oncePerKey(tx, ctx.idempotencyKey, async () => {
            await tx.query(
              `UPDATE orders SET status = 'cancelled', cancel_reason = $2, updated_at = now()
                WHERE id = $1 AND status = 'pending'`,
              [ctx.input.orderId, reason],
            );
            await deps.outbox.publish(
              tx,
              orderCancelled,
              { orderId: ctx.input.orderId, userId: ctx.input.userId, reason },
              { key: ctx.input.orderId, correlationId: ctx.sagaId },
            );
            return null;
          }),
        );
      },
    })
    .step("payment", {
      timeout: "5s",
      retry: { maxAttempts: 5 },
      invoke: async (ctx) => {
        const { payments: client } = await deps.participants();
        const charged = await client
          .charge(
            {
              body: {
                orderId: ctx.input.orderId,
                amountCents: ctx.input.totalCents,
                paymentMethod: ctx.input.paymentMethod,
              },
            },
            participantCallOptions(ctx),
          )
          .catch(refusedBy("PAYMENTS_DECLINED"));
        return { chargeId: charged.chargeId };
      },
      // By order, not by charge id: when the charge's outcome is uncertain (ctx.result undefined, its
      // answer lost after every retry) the charge may exist all the same, or still be in flight.
      // Payments refunds whatever it holds for the order and refuses a later charge of it.
      compensate: async (ctx) => {
        const { payments: client } = await deps.participants();
        await client.refundOrder({ params: { orderId: ctx.input.orderId } }, participantCallOptions(ctx));
      },
    })
    .step("inventory", {
      timeout: "5s",
      retry: { maxAttempts: 5 },
      invoke: async (ctx) => {
        const { inventory: client } = await deps.participants();
        const reserved = await client
          .reserve(
            { body: { orderId: ctx.input.orderId, items: ctx.input.items } },
            participantCallOptions(ctx),
          )
          .catch(refusedBy("INVENTORY_OUT_OF_STOCK"));
        return { reservationId: reserved.reservationId };
      },
      // By order, for the same reason as the payment's: an uncertain reservation is released too.
      compensate: async (ctx) => {
        const { inventory: client } = await deps.participants();
        await client.releaseOrder({ params: { orderId: ctx.input.orderId } }, participantCallOptions(ctx));
      },
    })
    .pivot("shipping", {
      timeout: "5s",
      retry: { maxAttempts: 5 },
      invoke: async (ctx) => {
        const { shipping: client } = await deps.participants();
        const shipment = await client.schedule(
          { body: { orderId: ctx.input.orderId, reservationId: ctx.data.inventory.reservationId } },
          participantCallOptions(ctx),
        );
        return { shipmentId: shipment.shipmentId };
      },
    })
    .step("confirm", {
      invoke: async (ctx) =>
        withTransaction(deps.pool(), (tx) =>
          oncePerKey(tx, ctx.idempotencyKey, async () => {
            const { shipmentId } = ctx.data.shipping;
            await tx.query(
              `UPDATE orders SET status = 'confirmed', shipment_id = $2, updated_at = now()
                WHERE id = $1 AND status = 'pending'`,
              [ctx.input.orderId, shipmentId],
            );
            await deps.outbox.publish(
              tx,
              orderConfirmed,
              {
                orderId: ctx.input.orderId,
                userId: ctx.input.userId,
                totalCents: ctx.input.totalCents,
                shipmentId,
              },
              { key: ctx.input.orderId, correlationId: ctx.sagaId },
            );
            return { confirmed: true };
          }),
        ),
    })
    .build();
}

/** The built order saga's type. */
export type OrderSaga = ReturnType<typeof orderSaga>;
