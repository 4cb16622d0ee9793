import type { Identity } from "../chain/identity.js";

/** Upstream request headers that carry the verified identity. */
export const IdentityHeader = {
  Subject: "x-flotilla-subject",
  Consumer: "x-flotilla-consumer",
  /** Comma-joined. */
  Roles: "x-flotilla-roles",
  /** Space-joined. */
  Scopes: "x-flotilla-scopes",
  /** `jwt` or `api-key`. */
  Auth: "x-flotilla-auth",
} as const;

interface IdentityHeaderValues {
  readonly subject: string;
  readonly consumer: string;
  readonly roles: string;
  readonly scopes: string;
}

const computed = new WeakMap<Identity, IdentityHeaderValues>();

// Visible ASCII except "%" (so a "%" in a header always starts an escape) and the list separator.
const unsafeValue = /[^\x21-\x24\x26-\x7e]/;
const unsafeRole = /[^\x21-\x24\x26-\x2b\x2d-\x7e]/;

function headerValue(value: string, unsafe: RegExp): string {
  if (!unsafe.test(value)) return value;
  return encodeURIComponent(value.toWellFormed()).replaceAll(",", "%2C");
}

function valuesOf(identity: Identity): IdentityHeaderValues {
  let values = computed.get(identity);
  if (values === undefined) {
    values = {
      subject: headerValue(identity.subject, unsafeValue),
      consumer: headerValue(identity.consumer, unsafeValue),
      roles: identity.roles.map((role) => headerValue(role, unsafeRole)).join(","),
      scopes: identity.scopes.map((scope) => headerValue(scope, unsafeValue)).join(" "),
    };
    computed.set(identity, values);
  }
  return values;
}

/**
 * Sets the {@link IdentityHeader} headers for `identity` on an exchange's upstream headers.
 * A value (or a list item) holding anything but visible ASCII, or a `%`, or its list separator, is
 * percent-encoded, so upstreams may always percent-decode. Computed once per identity object:
 * cached tokens and API keys hand out the same object each time.
 */
export function setIdentityHeaders(upstreamHeaders: Record<string, string | null>, identity: Identity): void {
  const values = valuesOf(identity);
  upstreamHeaders[IdentityHeader.Subject] = values.subject;
  upstreamHeaders[IdentityHeader.Consumer] = values.consumer;
  upstreamHeaders[IdentityHeader.Roles] = values.roles;
  upstreamHeaders[IdentityHeader.Scopes] = values.scopes;
  upstreamHeaders[IdentityHeader.Auth] = identity.method;
}
