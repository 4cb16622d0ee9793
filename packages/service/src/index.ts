export {
  currentRequestScope,
  type RequestScope,
  runInRequestScope,
  scopeHeaders,
} from "./context/request-scope.js";
export type { CallOptions, ClientMethod, ClientOf } from "./contract/client-types.js";
export { type AnyContract, type Contract, defineContract } from "./contract/define-contract.js";
export {
  type AnyRoute,
  type HandlerInput,
  type RouteDefinition,
  type RouteInput,
  type RouteMethod,
  type RouteOutput,
  type RouteResult,
  route,
} from "./contract/route.js";
