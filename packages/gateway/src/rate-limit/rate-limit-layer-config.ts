import { z } from "zod";
import { policyNamePattern } from "./rate-limit-headers.js";
import { rateLimitRuleSchema } from "./rate-limit-rule.js";

const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: "expected an HTTP header name" })
  .transform((name) => name.toLowerCase());

/**
 * One policy in configuration (zod 4): a `name` (shown in the `RateLimit` headers), a `rule`, and
 * what one bucket is kept per — `key`:
 *
 * - `"ip"` (default): the client's address as the socket saw it;
 * - `"consumer"`: the authenticated consumer (`identity.consumer`), else the client's address;
 * - `"route"`: one bucket for everybody on the route;
 * - `{ header: "x-tenant" }`: the header's value (its first 256 characters), else the client's
 *   address. Only for headers the client cannot choose freely (set by a trusted proxy or an
 *   earlier layer): anyone who can send the header can spend another value's quota.
 */
export const rateLimitPolicySchema = z
  .object({
    name: z.string().regex(policyNamePattern, {
      error: "expected 1 to 64 of A-Z a-z 0-9 . _ ~ - starting with a letter or digit",
    }),
    rule: rateLimitRuleSchema,
    key: z
      .union([z.enum(["ip", "consumer", "route"]), z.object({ header: headerName }).strict()])
      .default("ip"),
  })
  .strict();

/** A policy as written in configuration. */
export type RateLimitPolicyConfig = z.input<typeof rateLimitPolicySchema>;

/**
 * The rate limit layer in configuration (zod 4): its `policies` (1 to 16, names unique) and what
 * a backend failure does — `onBackendError: "allow"` (default) lets the request through,
 * `"deny"` answers 503.
 */
export const rateLimitLayerConfigSchema = z
  .object({
    policies: z
      .array(rateLimitPolicySchema)
      .min(1)
      .max(16)
      .superRefine((policies, ctx) => {
        const seen = new Set<string>();
        for (const [index, policy] of policies.entries()) {
          if (seen.has(policy.name)) {
            ctx.addIssue({
              code: "custom",
              path: [index, "name"],
              message: `duplicate policy "${policy.name}"`,
            });
          }
          seen.add(policy.name);
        }
      }),
    onBackendError: z.enum(["allow", "deny"]).default("allow"),
  })
  .strict();

/** The layer's configuration as written: {@link rateLimitLayerConfigSchema}'s input. */
export type RateLimitLayerConfigInput = z.input<typeof rateLimitLayerConfigSchema>;

/** The layer's configuration resolved: durations in milliseconds, defaults filled in. */
export type RateLimitLayerConfig = z.output<typeof rateLimitLayerConfigSchema>;
