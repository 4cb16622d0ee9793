import { z } from "zod";

// RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const scopeToken = z
  .string()
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, "expected an OAuth scope token (RFC 6749 §3.3)");
const roleName = z.string().min(1);

/**
 * A route's role-based access rules. Every rule given must hold; with none, any authenticated
 * request passes.
 */
export const authorizationSchema = z
  .object({
    /** The identity needs at least one of these roles. */
    roles: z.array(roleName).min(1).optional(),
    /** The identity needs every one of these roles. */
    allRoles: z.array(roleName).min(1).optional(),
    /** The identity needs every one of these scopes. */
    scopes: z.array(scopeToken).min(1).optional(),
    /** The realm of `WWW-Authenticate` challenges. */
    realm: z
      .string()
      .regex(/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/, "expected printable ASCII without quotes or backslashes")
      .default("flotilla"),
  })
  .strict();

/** {@link authorizationSchema}'s input. */
export type AuthorizationInput = z.input<typeof authorizationSchema>;

/** {@link authorizationSchema}'s output. */
export type AuthorizationOptions = z.output<typeof authorizationSchema>;
