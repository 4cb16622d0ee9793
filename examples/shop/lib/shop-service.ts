import type { AnyService, ServiceConfigInput, StartServiceOptions } from "@flotilla/service";

/**
 * One shop service ready to run: the `defineService` value, the start hooks it needs (database
 * connector with messaging, clients factory) and config defaults (dependency policies). `main.ts`
 * hands it to `runService`; the journey test to `startService`.
 */
export interface ShopService {
  readonly service: AnyService;
  readonly hooks: Pick<StartServiceOptions, "connectDatabase" | "createClients">;
  readonly defaults: ServiceConfigInput;
}
