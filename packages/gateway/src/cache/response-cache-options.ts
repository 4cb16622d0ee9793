import { parseDuration } from "@flotilla/resilience";
import { z } from "zod";

// Milliseconds as a number, or a duration string such as "30s"; parsed to milliseconds.
const durationSchema = z.union([z.number(), z.string()]).transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});

/**
 * Options of the response cache layer of a route (`routes.<id>.cache`).
 *
 * ```yaml
 * cache: { store: redis, defaultTtl: 30s, staleIfError: 5m, maxBodyBytes: 262144 }
 * ```
 */
export const responseCacheOptionsSchema = z
  .object({
    /** Which of the gateway's stores keeps the entries (default `"memory"`). */
    store: z.enum(["memory", "redis"]).default("memory"),
    /** Freshness for responses that state none (no `s-maxage`/`max-age`/`Expires`); without it they are not stored. */
    defaultTtl: durationSchema.optional(),
    /** How long past freshness a response may stand in for a failing upstream, unless it says `stale-if-error=N` itself. */
    staleIfError: durationSchema.optional(),
    /** Largest body stored, in bytes (default 1 MiB). */
    maxBodyBytes: z
      .number()
      .int()
      .nonnegative()
      .default(1024 * 1024),
    /**
     * Whether requests with `Authorization`, or that authentication gave an identity, use the
     * cache at all (default `false`: they bypass it). When `true`, their responses are stored
     * only when they say `public`, `s-maxage` or `must-revalidate` (RFC 9111 §3.5).
     */
    cacheAuthorized: z.boolean().default(false),
    /** Whether responses with `Set-Cookie` are stored (default `false`); the stored copy never keeps the cookie. */
    cacheSetCookie: z.boolean().default(false),
  })
  .strict();

/** Options as written in the configuration. */
export type ResponseCacheOptionsInput = z.input<typeof responseCacheOptionsSchema>;

/** {@link responseCacheOptionsSchema}'s result: defaults applied, durations in milliseconds. */
export type ResponseCacheOptions = z.output<typeof responseCacheOptionsSchema>;
