import type { AnyRoute } from "./route.js";

/**
 * A service's public face: name, semver version and routes, with no implementation. Callers
 * import it (a small module of schemas) to get typed clients; the service implements it with
 * `defineService`.
 */
export interface Contract<
  Name extends string = string,
  Routes extends Record<string, AnyRoute> = Record<string, AnyRoute>,
> {
  readonly name: Name;
  readonly version: string;
  readonly routes: Routes;
}

/** Any contract. */
export type AnyContract = Contract<string, Record<string, AnyRoute>>;

/**
 * Declares a contract. Keep it in its own module (`inventory.contract.ts`) that imports only
 * zod and this package, so a caller importing it pulls in nothing of the service.
 *
 * ```ts
 * export const inventory = defineContract({
 *   name: "inventory",
 *   version: "1.2.0",
 *   routes: { reserve, release, stock },
 * });
 * ```
 */
export function defineContract<const Name extends string, const Routes extends Record<string, AnyRoute>>(
  contract: Contract<Name, Routes>,
): Contract<Name, Routes> {
  return contract;
}
