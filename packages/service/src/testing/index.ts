/**
 * Test support of `@flotilla/service`: start a set of services in one test, in-process, with an
 * embedded registry, their own throw-away databases on the local PostgreSQL and spans in memory.
 *
 * ```ts
 * import { startTestBed } from "@flotilla/service/testing";
 *
 * const bed = await startTestBed({
 *   services: [{ service: inventoryService, instances: 2 }, { service: ordersService }],
 *   telemetry: true,
 * });
 * const orders = bed.client(ordersContract);
 * const placed = await orders.place({ body: { sku: "ABC-1", quantity: 2 } });
 * const spans = await bed.waitForSpans((s) => s.some((span) => span.name === "POST /reservations/:sku"));
 * await bed.stop("inventory", 0);
 * await bed.close(); // stops everything, drops the databases
 * ```
 *
 * @module
 */
export {
  startTestBed,
  type TestBed,
  type TestBedClientOptions,
  type TestBedOptions,
  type TestBedService,
  type TestBedServiceConfig,
} from "./service-test-bed.js";
export { isTestBedError, TestBedError, TestBedErrorCode } from "./test-bed-error.js";
