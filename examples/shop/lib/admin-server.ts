import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "@flotilla/observability";
import { registryClient, selfRegistration } from "@flotilla/registry";

/** A `node:http` handler that answers the requests it owns and returns `false` for the others. */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Options of {@link startAdminServer}. */
export interface AdminServerOptions {
  /** Handlers tried in order (`sagaApi(…)`, `deadLetterApi(…)`). */
  readonly handlers: readonly AdminHandler[];
  /** Default 0: any free port. */
  readonly port?: number;
  /** Default `127.0.0.1`: the admin APIs have no authentication of their own. */
  readonly host?: string;
  readonly logger?: Logger;
  /**
   * Registers the admin port in the registry as its own instance (service `<service>`, usually
   * `orders-admin`), so `flotilla sagas` and `flotilla dlq` find it by probing registered instances.
   */
  readonly registration?: { readonly registryUrl: string; readonly service: string; readonly id: string };
}

/** A running admin server. */
export interface AdminServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves operator APIs on a port of their own, never the public one: the first handler that owns
 * the path answers, anything else is a 404 problem.
 *
 * @example
 * const admin = await startAdminServer({ handlers: [sagaApi(sagas), deadLetterApi(transport.deadLetters)] });
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  let ready = true;
  const server = createServer((req, res) => {
    if (req.url === "/health/ready") {
      res.writeHead(ready ? 200 : 503).end();
      return;
    }
    for (const handler of options.handlers) if (handler(req, res)) return;
    res.writeHead(404, { "content-type": "application/problem+json" }).end(
      JSON.stringify({
        title: "Not Found",
        status: 404,
        detail: `no admin route ${req.method} ${req.url}`,
      }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address}:${port}`;
  const registration =
    options.registration === undefined
      ? undefined
      : selfRegistration({
          client: registryClient({ url: options.registration.registryUrl }),
          registration: {
            service: options.registration.service,
            id: options.registration.id,
            address,
            port,
            ttlMs: 10_000,
            checks: [{ type: "http", url: `${url}/health/ready`, intervalMs: 5_000 }],
          },
          handleSignals: false,
        });
  registration?.start();
  options.logger?.info({ url, registered: options.registration?.service }, "admin API listening");
  return {
    url,
    close: async () => {
      ready = false;
      await registration?.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
