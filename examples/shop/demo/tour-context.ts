import type { Collector } from "./collector.ts";
import type { Gateway, ShopUser } from "./gateway.ts";
import type { SagaAdmin } from "./saga-admin.ts";
import type { TourOutput } from "./tour-output.ts";

/** What every section of the tour gets. */
export interface TourContext {
  readonly gateway: Gateway;
  readonly collector: Collector;
  readonly sagas: SagaAdmin;
  readonly registryUrl: string;
  readonly out: TourOutput;
  /** The user who places the tour's orders (created for this run). */
  readonly shopper: ShopUser;
  /** A new user for this run, e-mail `demo-<run>-<role>@example.com`, logged in. */
  readonly newUser: (role: string) => Promise<ShopUser>;
}
