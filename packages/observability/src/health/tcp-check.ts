import { connect } from "node:net";
import type { HealthCheck } from "./health-check.js";

/**
 * A check that opens a TCP connection to `host`:`port` and closes it at once: it passes when the
 * connection is accepted and fails with the socket's error (`connect ECONNREFUSED 127.0.0.1:6379`).
 * For dependencies without a health endpoint of their own (a broker, a cache).
 */
export function tcpCheck(host: string, port: number): HealthCheck {
  if (typeof host !== "string" || host === "") throw new TypeError("tcpCheck: expected a host name");
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new TypeError(`tcpCheck: expected a port from 1 to 65535, got ${port}`);
  }
  return ({ signal }) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const socket = connect({ host, port });
      const onAbort = () => {
        socket.destroy();
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      socket.once("connect", () => {
        signal.removeEventListener("abort", onAbort);
        socket.destroy();
        resolve();
      });
      socket.once("error", (error) => {
        signal.removeEventListener("abort", onAbort);
        socket.destroy();
        reject(error);
      });
    });
}
