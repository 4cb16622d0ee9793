import { ConfigError } from "@flotilla/resilience";
import type { z } from "zod";

/**
 * Parses environment variables with a zod object schema whose keys are the variable names, and
 * throws a `ConfigError` (`FLT_CONFIG_INVALID`) naming every bad variable.
 *
 * @example
 * const { PAYMENTS_FAILURE_RATE } = envSettings(z.object({ PAYMENTS_FAILURE_RATE: z.coerce.number().default(0) }));
 */
export function envSettings<S extends z.ZodType>(
  schema: S,
  env: Readonly<Record<string, string | undefined>> = process.env,
): z.output<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })),
    );
  }
  return parsed.data;
}
