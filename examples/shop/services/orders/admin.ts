import { deadLetterApi } from "@flotilla/messaging";
import { sagaApi } from "@flotilla/saga";
import { type AdminServer, startAdminServer } from "../../lib/admin-server.ts";
import type { OrdersStarted } from "./service.ts";

/** Options of {@link ordersAdmin}. */
export interface OrdersAdminOptions {
  /** Default 0: any free port. */
  readonly port?: number;
  /** Registers the admin port there (as `orders-admin`). Default: not registered. */
  readonly registryUrl?: string;
  /** Suffix of the admin instance id (`orders-admin-<instanceId>`). Default the process id. */
  readonly instanceId?: string;
}

/**
 * The orders admin port, for `OrdersOptions.onStarted`: `GET /sagas`, `GET /sagas/:id` (an order's
 * saga with its step log), `POST /sagas/:id/resume|abort`, and the bus's dead letters under
 * `/dead-letters`. Port 0 takes any free port (logged as "admin API listening"). With a registry
 * URL the port is registered as an instance of `orders-admin`, where the `flotilla` CLI finds it.
 */
export function ordersAdmin(
  options: OrdersAdminOptions = {},
): (started: OrdersStarted) => Promise<AdminServer> {
  return ({ sagas, transport, logger }) =>
    startAdminServer({
      port: options.port ?? 0,
      logger,
      ...(options.registryUrl === undefined
        ? {}
        : {
            registration: {
              registryUrl: options.registryUrl,
              service: "orders-admin",
              id: `orders-admin-${options.instanceId ?? process.pid}`,
            },
          }),
      handlers: [sagaApi(sagas, { logger }), deadLetterApi(transport.deadLetters, { logger })],
    });
}
