/**
 * The host a request names, without port, lower-case: from `Host` (HTTP/1.1) or `:authority`
 * (HTTP/2). `[::1]:8080` gives `::1`. Empty when there is none.
 */
export function requestHost(value: string | undefined): string {
  if (value === undefined || value.length === 0) return "";
  if (value.charCodeAt(0) === 91 /* "[" */) {
    const end = value.indexOf("]");
    return (end < 0 ? value.slice(1) : value.slice(1, end)).toLowerCase();
  }
  const colon = value.indexOf(":");
  const host = colon < 0 ? value : value.slice(0, colon);
  return hasUpper(host) ? host.toLowerCase() : host;
}

function hasUpper(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}

/** The peer's address, with IPv4-mapped IPv6 (`::ffff:127.0.0.1`) as plain IPv4. */
export function clientAddress(remote: string | undefined): string {
  if (remote === undefined) return "";
  return remote.startsWith("::ffff:") && remote.includes(".") ? remote.slice(7) : remote;
}
