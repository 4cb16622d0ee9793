import type { z } from "zod";
import { GatewayError, GatewayErrorCode } from "../chain/gateway-error.js";

/**
 * Parses `value` with `schema`; throws a {@link GatewayError} `FLT_GATEWAY_CONFIG_INVALID` naming
 * `what`, each issue's path and its reason. Runs at construction, never per request.
 */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const reasons = result.error.issues.map((issue) => {
    const path = issue.path.map(String).join(".");
    return path === "" ? issue.message : `${path}: ${issue.message}`;
  });
  throw new GatewayError(GatewayErrorCode.ConfigInvalid, `invalid ${what}: ${reasons.join("; ")}`);
}
