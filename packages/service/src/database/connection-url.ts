import type { ConfigReader } from "@flotilla/resilience";

/**
 * Reads `obj[key]` as a `postgres://` or `postgresql://` connection string. Records a problem in
 * `reader` naming the path, and never the string itself, which may hold a password.
 */
export function readConnectionUrl(
  reader: ConfigReader,
  obj: Record<string, unknown>,
  key: string,
  fallback?: string,
): URL {
  const value = obj[key] ?? fallback;
  const placeholder = new URL("postgres://localhost/postgres");
  if (typeof value !== "string" || value.length === 0) {
    reader.issue(key, "expected a postgres:// connection string");
    return placeholder;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    reader.issue(key, "expected a postgres:// connection string, got something that is not a URL");
    return placeholder;
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    reader.issue(key, `expected a postgres:// or postgresql:// connection string, got ${url.protocol}//`);
    return placeholder;
  }
  return url;
}

/** `url` as text with its password, in the authority or the query, replaced by `***`. */
export function redactUrl(url: URL | string): string {
  const copy = new URL(url);
  if (copy.password !== "") copy.password = "***";
  if (copy.searchParams.has("password")) copy.searchParams.set("password", "***");
  return copy.href;
}

/**
 * A copy of `base` (host, port and options such as `sslmode`) that logs in to `database` as
 * `user`. `user`/`password` query parameters are dropped first: `pg` prefers them over the
 * authority, so a kept `?user=postgres` would log the service in as the admin.
 */
export function urlFor(
  base: URL,
  target: { user: string; password: string | undefined; database: string; applicationName?: string },
): URL {
  const url = new URL(base);
  url.searchParams.delete("user");
  url.searchParams.delete("password");
  url.username = "";
  url.password = "";
  if (url.hostname === "") {
    // Socket URLs (`postgres:///db?host=/run/postgresql`) have no authority to put a user in.
    url.searchParams.set("user", target.user);
    if (target.password !== undefined) url.searchParams.set("password", target.password);
  } else {
    url.username = target.user;
    if (target.password !== undefined) url.password = target.password;
  }
  url.pathname = `/${target.database}`;
  if (target.applicationName !== undefined) url.searchParams.set("application_name", target.applicationName);
  return url;
}
