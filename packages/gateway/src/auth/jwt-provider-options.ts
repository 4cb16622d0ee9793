import { z } from "zod";
import { durationSchema } from "./parse-auth-options.js";

/**
 * The JWS algorithms a provider may allow: asymmetric ones only. `none` is never allowed, and
 * neither are the HMAC algorithms (`HS256`...): the gateway holds public keys, and an HMAC
 * "verified" with public key bytes as the secret is the classic algorithm-confusion forgery.
 */
export const jwtAlgorithms = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;

/** One of {@link jwtAlgorithms}. */
export type JwtAlgorithm = (typeof jwtAlgorithms)[number];

const algorithmSet: ReadonlySet<string> = new Set(jwtAlgorithms);

const algorithmSchema = z.string().transform((value, ctx): JwtAlgorithm => {
  if (value.trim().toLowerCase() === "none") {
    ctx.addIssue({ code: "custom", message: '"none" is never allowed: it would accept unsigned tokens' });
    return z.NEVER;
  }
  if (value.toUpperCase().startsWith("HS")) {
    ctx.addIssue({
      code: "custom",
      message: `"${value}" is not allowed: symmetric algorithms cannot be verified with public keys`,
    });
    return z.NEVER;
  }
  if (!algorithmSet.has(value)) {
    ctx.addIssue({
      code: "custom",
      message: `unknown algorithm "${value}", expected one of ${jwtAlgorithms.join(", ")}`,
    });
    return z.NEVER;
  }
  return value as JwtAlgorithm;
});

const stringListSchema = z
  .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
  .transform((value): readonly string[] => (typeof value === "string" ? [value] : value));

const publicJwkSchema = z
  .looseObject({
    kty: z.enum(["RSA", "EC", "OKP"]),
    kid: z.string().min(1).optional(),
    alg: z.string().min(1).optional(),
    use: z.string().min(1).optional(),
  })
  .superRefine((jwk, ctx) => {
    if ("d" in jwk) {
      ctx.addIssue({ code: "custom", message: 'a private key: configure only the public part (no "d")' });
    }
  });

/**
 * Options of one JWT provider (an issuer and how to check its tokens). Durations accept `"30s"`
 * or milliseconds. Exactly one of `jwksUrl` and `keys` is required.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8725 JWT Best Current Practices
 */
export const jwtProviderSchema = z
  .object({
    /** Accepted `iss` values. */
    issuer: stringListSchema,
    /** Accepted `aud` values; a token must name at least one. */
    audience: stringListSchema,
    /** The issuer's JWKS endpoint (`jwks_uri`). */
    jwksUrl: z.url({ protocol: /^https?$/ }).optional(),
    /** Static public keys (JWK), instead of `jwksUrl`. */
    keys: z.array(publicJwkSchema).min(1).optional(),
    /** Accepted `alg` header values. */
    algorithms: z.array(algorithmSchema).min(1).default(["RS256", "ES256", "EdDSA"]),
    /** Refuse tokens without `exp`: a token that never expires cannot be withdrawn. Default true. */
    requireExpiration: z.boolean().default(true),
    /** Tolerance for `exp` and `nbf` against this host's clock. */
    clockSkew: durationSchema.prefault("30s"),
    /** After a JWKS fetch, how long an unknown `kid` may not trigger another. */
    jwksCooldown: durationSchema.prefault("30s"),
    /** How long a fetched key set is used before it is fetched again. */
    jwksCacheMaxAge: durationSchema.prefault("10m"),
    /** Time limit of one JWKS fetch. */
    jwksTimeout: durationSchema.prefault("2s"),
    /** Dotted path of the roles claim (`realm_access.roles`); a claim whose name holds dots is found too. */
    rolesClaim: z.string().min(1).default("roles"),
    /** The scopes claim: a space-separated string or an array; `scp` is read when it is absent. */
    scopesClaim: z.string().min(1).default("scope"),
    /** The consumer claim; `client_id`, then `sub`, when it is absent. */
    consumerClaim: z.string().min(1).default("azp"),
    /** Verified tokens kept so a repeated token costs a map look-up; 0 disables the cache. */
    tokenCacheSize: z.number().int().min(0).default(10_000),
  })
  .strict()
  .superRefine((options, ctx) => {
    if ((options.jwksUrl === undefined) === (options.keys === undefined)) {
      ctx.addIssue({ code: "custom", message: "set exactly one of jwksUrl and keys", path: ["jwksUrl"] });
    }
  });

/** {@link jwtProviderSchema}'s input: what a configuration file holds. */
export type JwtProviderInput = z.input<typeof jwtProviderSchema>;

/** {@link jwtProviderSchema}'s output: defaults applied, durations in milliseconds. */
export type JwtProviderOptions = z.output<typeof jwtProviderSchema>;
