/**
 * Who made a request, as authentication verified it. Layers after authentication read it;
 * authentication forwards it upstream as `x-flotilla-subject`, `-consumer`, `-roles`, `-scopes`
 * and `-auth`; the proxy drops every `x-flotilla-*` header a client sent, so none can be forged.
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
