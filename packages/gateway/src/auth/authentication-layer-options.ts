import { z } from "zod";

/** The method name of API keys in a route's `methods`; any other name is a JWT provider's. */
export const apiKeyMethod = "api-key";

/** A route's authentication: which methods it accepts and whether anonymous requests pass. */
export const authenticationRouteSchema = z
  .object({
    /** JWT provider names and/or `"api-key"`, in order of preference. */
    methods: z.array(z.string().min(1)).min(1),
    /**
     * Anonymous requests pass (without identity). Credentials that are sent must still be
     * valid: an expired token is refused, not treated as anonymous (Envoy's `allow_missing`).
     */
    optional: z.boolean().default(false),
    /** Remove the credential (`authorization` or the API key header) from the upstream request. */
    hideCredentials: z.boolean().default(false),
    /** The realm of `WWW-Authenticate` challenges. */
    realm: z
      .string()
      .regex(/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/, "expected printable ASCII without quotes or backslashes")
      .default("flotilla"),
  })
  .strict();

/** {@link authenticationRouteSchema}'s input. */
export type AuthenticationRouteInput = z.input<typeof authenticationRouteSchema>;

/** {@link authenticationRouteSchema}'s output. */
export type AuthenticationRouteOptions = z.output<typeof authenticationRouteSchema>;
