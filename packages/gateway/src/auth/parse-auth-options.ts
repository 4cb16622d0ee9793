import { parseDuration } from "@flotilla/resilience";
import { z } from "zod";
import { GatewayError, GatewayErrorCode } from "../chain/gateway-error.js";

/** A duration: `"250ms"`, `"5s"`, `"1m30s"` or a number of milliseconds; parses to milliseconds. */
export const durationSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});

/**
 * Validates options with `schema`, throwing a `FLT_GATEWAY_CONFIG_INVALID` error that names the
 * path and reason of every problem (`jwt.algorithms.0: "none" is never allowed`).
 */
export function parseAuthOptions<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${[what, ...issue.path].join(".")}: ${issue.message}`);
  throw new GatewayError(GatewayErrorCode.ConfigInvalid, `invalid ${what} options: ${problems.join("; ")}`);
}
