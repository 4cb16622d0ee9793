import { z } from "zod";
import { GatewayError, GatewayErrorCode } from "../chain/gateway-error.js";

// RFC 9110 §5.6.2 token.
const tokenPattern = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** An HTTP field name (RFC 9110 token), lower-cased. */
export const headerNameSchema = z
  .string()
  .regex(tokenPattern, { error: "expected an HTTP header name (RFC 9110 token)" })
  .transform((name) => name.toLowerCase());

/** An HTTP field value without control characters (no CR/LF injection). */
export const headerValueSchema = z
  .string()
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point.
  .regex(/^[^\x00-\x08\x0a-\x1f\x7f]*$/, { error: "expected a header value without control characters" });

/** An HTTP method token, upper-cased. */
export const methodSchema = z
  .string()
  .regex(tokenPattern, { error: "expected an HTTP method" })
  .transform((method) => method.toUpperCase());

/**
 * Validates a layer's options with its schema and returns the resolved options. Throws a
 * {@link GatewayError} `FLT_GATEWAY_CONFIG_INVALID` naming every bad path (`what.origins.0: ...`).
 */
export function parseLayerOptions<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const lines: string[] = [];
  for (const issue of result.error.issues) {
    const path = [what, ...issue.path.map(String)].join(".");
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) lines.push(`${path}.${key}: unknown option`);
    } else {
      lines.push(`${path}: ${issue.message}`);
    }
  }
  return throwConfigInvalid(lines);
}

function throwConfigInvalid(lines: readonly string[]): never {
  throw new GatewayError(
    GatewayErrorCode.ConfigInvalid,
    `invalid ${lines.length === 1 ? "option" : "options"}:\n  - ${lines.join("\n  - ")}`,
  );
}
