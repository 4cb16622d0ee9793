/**
 * Who made a request, as authentication verified it. Layers after authentication read it;
 * the proxy forwards it to upstreams as `x-flotilla-identity-*` headers, replacing anything
 * the client sent under those names.
 */
export interface Identity {
  /** The subject: the JWT `sub`, or the API key's consumer name. */
  readonly subject: string;
  /** The consumer used for rate limits and logs: a JWT's `azp`/`client_id` or the API key's consumer. */
  readonly consumer: string;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  /** How it was verified. */
  readonly method: "jwt" | "api-key";
  /** The verified JWT claims (empty for API keys). */
  readonly claims: Readonly<Record<string, unknown>>;
}
