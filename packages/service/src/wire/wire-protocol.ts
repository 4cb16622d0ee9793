/**
 * How a connection becomes a wire connection: an HTTP/1.1 `GET` of {@link wireProtocol.path}
 * with `Connection: Upgrade` and `Upgrade: flotilla-wire/1` to the service's own port, answered
 * `101 Switching Protocols`; from then on both sides speak frames (`wire-frame.ts`). An instance
 * that accepts it says so in its registration metadata, so a client never tries it on one that
 * does not.
 */
export const wireProtocol = {
  /** The upgrade token (RFC 9110 §7.8). */
  token: "flotilla-wire/1",
  /** The path of the upgrade request. */
  path: "/.flotilla/wire",
  /** The registration metadata key an instance that accepts the upgrade sets to {@link wireProtocol.version}. */
  metadataKey: "flotilla.wire",
  version: "1",
  /** Idle milliseconds before TCP keep-alive probes start on either side: a peer gone without a FIN is found. */
  keepAliveMs: 30_000,
} as const;

/** The bytes that ask for the upgrade. */
export function upgradeRequest(host: string, port: number): string {
  return (
    `GET ${wireProtocol.path} HTTP/1.1\r\nHost: ${host}:${port}\r\n` +
    `Connection: Upgrade\r\nUpgrade: ${wireProtocol.token}\r\n\r\n`
  );
}

/** The server's answer that accepts the upgrade. */
export const upgradeResponse = `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${wireProtocol.token}\r\n\r\n`;
