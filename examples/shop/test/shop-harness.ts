import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { type Gateway, startGateway } from "@flotilla/gateway";
import type { Transport } from "@flotilla/messaging";
import { embeddedStore, registryServer } from "@flotilla/registry";
import { provisionDatabase, type RunningService, startService } from "@flotilla/service";
import pg from "pg";
import { parse } from "yaml";
import { connectTransport, type MessagingSettings, messagingConnector, queueName } from "../lib/messaging.ts";
import type { ShopService } from "../lib/shop-service.ts";
import { catalogShopService } from "../services/catalog/service.ts";
import { inventoryShopService } from "../services/inventory/service.ts";
import { Notifier, SimulatedChannel } from "../services/notifications/notifier.ts";
import { notificationsShopService } from "../services/notifications/service.ts";
import { ordersAdmin } from "../services/orders/admin.ts";
import { ordersShopService } from "../services/orders/service.ts";
import type { PaymentsOptions } from "../services/payments/service.ts";
import { paymentsShopService } from "../services/payments/service.ts";
import { recommendationsShopService } from "../services/recommendations/service.ts";
import { reviewsShopService } from "../services/reviews/service.ts";
import { shippingShopService } from "../services/shipping/service.ts";
import { usersShopService } from "../services/users/service.ts";
import { freePort } from "./free-port.ts";
import { deleteRabbitMqNames, machineRabbitMqUrl, namespaceNames } from "./rabbitmq-namespace.ts";

/** The buses the harness can run the shop's events over. */
export type ShopBus = "rabbitmq" | "postgres";

/** Options of {@link startShop}. */
export interface ShopHarnessOptions {
  readonly adminUrl?: string;
  /**
   * `rabbitmq` (default): the machine's RabbitMQ (`rabbitmqUrl`), with an exchange and queues of
   * this run's own (`shop_<random>`), deleted by `close`. `postgres`: a bus database of this run's own.
   */
  readonly bus?: ShopBus;
  /** Default `amqp://guest:guest@127.0.0.1:5672`. */
  readonly rabbitmqUrl?: string;
  readonly payments?: PaymentsOptions;
  readonly pushFailureRate?: number;
  readonly emailFailureRate?: number;
}

/** Faults of the recommendations service, read on every call: a test may change them. */
export interface MutableFaults {
  latencyMs: number;
  failureRate: number;
}

/** The whole shop running in this process, each service with databases of this run's own. */
export interface ShopHarness {
  readonly gatewayUrl: string;
  /** The base URL of a service's instance (for checks behind the gateway). */
  url(service: string): string;
  /** Change these to make recommendations slow or failing. */
  readonly recommendationsFaults: MutableFaults;
  /** How long payments holds the answer of a recorded charge (0: not at all); a test may change it. */
  readonly paymentsAnswerDelay: { ms: number };
  /** The orders admin port (sagaApi, deadLetterApi). */
  readonly ordersAdminUrl: string;
  /** Stops everything, drops this run's databases and roles, deletes its RabbitMQ queues and exchanges. */
  close(): Promise<void>;
}

function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Resolves once the registry reports every instance of each service `passing` (its first readiness
 * probe has run), as `flotilla up` waits before it prints the URLs; fails after 15 s.
 */
async function allPassing(registryUrl: string, services: readonly string[]): Promise<void> {
  const until = Date.now() + 15_000;
  for (const service of services) {
    for (;;) {
      const response = await fetch(`${registryUrl}/v1/services/${service}?status=any`);
      const { instances } = (await response.json()) as { instances: { status: string }[] };
      if (instances.length > 0 && instances.every((instance) => instance.status === "passing")) break;
      if (Date.now() > until) throw new Error(`${service} is not passing its readiness checks after 15 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * Starts a registry (in memory), the nine shop services through `startService` against the local
 * PostgreSQL (databases `shop_<service>_<suffix>`), their events on the machine's RabbitMQ
 * (exchange `shop_<suffix>`) or a bus database `shop_bus_<suffix>`, and the gateway with
 * examples/shop/gateway.yaml on a free port.
 */
export async function startShop(options: ShopHarnessOptions = {}): Promise<ShopHarness> {
  const adminUrl = options.adminUrl ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const suffix = randomBytes(4).toString("hex");
  const databases: string[] = [];
  const running = new Map<string, RunningService>();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const store = await embeddedStore();
  const registry = registryServer({ store });
  let gateway: Gateway | undefined;
  let ordersAdminUrl = "";
  const recommendationsFaults: MutableFaults = { latencyMs: 0, failureRate: 0 };
  const paymentsAnswerDelay = { ms: 0 };
  const bus = options.bus ?? "rabbitmq";
  const rabbitmqUrl = options.rabbitmqUrl ?? machineRabbitMqUrl;
  const namespace = `shop_${suffix}`;
  const transports: Transport[] = [];

  const close = async (): Promise<void> => {
    await gateway?.close(1_000);
    for (const service of [...running.values()].reverse()) await service.stop();
    await registry.close();
    await store.close();
    if (bus === "rabbitmq") {
      const queues = ["notifications", "inventory-restock"].map((consumer) => queueName(namespace, consumer));
      await deleteRabbitMqNames(rabbitmqUrl, namespaceNames(namespace, queues, transports));
    }
    for (const name of databases) {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${name}`);
    }
    await admin.end();
  };

  try {
    let settings: MessagingSettings;
    if (bus === "postgres") {
      const busName = `shop_bus_${suffix}`;
      await admin.query(`CREATE DATABASE ${busName}`);
      databases.push(busName);
      settings = { transport: "postgres", url: databaseUrl(adminUrl, busName), namespace };
    } else {
      settings = { transport: "rabbitmq", url: rabbitmqUrl, namespace };
    }
    const transport = async (logger: Parameters<typeof connectTransport>[1]) => {
      const connected = await connectTransport(settings, logger);
      transports.push(connected);
      return connected;
    };
    const { port: registryPort } = await registry.listen(0);
    const registryUrl = `http://127.0.0.1:${registryPort}`;

    const shops: ShopService[] = [
      usersShopService(),
      catalogShopService(),
      paymentsShopService({ ...options.payments, answerDelay: paymentsAnswerDelay }),
      inventoryShopService({
        connect: ({ outbox, consumers }) => messagingConnector({ transport, namespace, outbox, consumers }),
      }),
      shippingShopService(),
      reviewsShopService(),
      recommendationsShopService({ faults: recommendationsFaults }),
      notificationsShopService({
        notifier: new Notifier({
          push: new SimulatedChannel("push", { failureRate: options.pushFailureRate ?? 0 }),
          email: new SimulatedChannel("email", { failureRate: options.emailFailureRate ?? 0 }),
        }),
        connect: (consumers) => messagingConnector({ transport, namespace, consumers }),
      }),
      ordersShopService({
        connect: (runtime) =>
          messagingConnector({
            transport,
            namespace,
            ...(runtime.outbox === undefined ? {} : { outbox: runtime.outbox }),
            start: runtime.start,
          }),
        onStarted: async (started) => {
          const admin = await ordersAdmin({ registryUrl, instanceId: "test" })(started);
          ordersAdminUrl = admin.url;
          return admin;
        },
      }),
    ];
    for (const shop of shops) {
      const name = `shop_${shop.service.contract.name.replaceAll("-", "_")}_${suffix}`;
      databases.push(name);
      const { url } = await provisionDatabase({
        service: shop.service.contract.name,
        adminUrl,
        database: name,
        role: name,
      });
      const service = await startService(shop.service, {
        ...shop.hooks,
        config: {
          ...shop.defaults,
          port: 0,
          registry: { url: registryUrl },
          telemetry: { enabled: false },
          database: { url },
          shutdown: { linger: 0, drainTimeout: "2s" },
          log: { level: process.env.SHOP_TEST_LOG_LEVEL === "debug" ? "debug" : "fatal" },
        },
      });
      running.set(shop.service.contract.name, service);
    }

    await allPassing(registryUrl, [...running.keys(), "orders-admin"]);
    const gatewayPort = await freePort();
    const config = parse(await readFile(new URL("../gateway.yaml", import.meta.url), "utf8"));
    config.listen = { port: gatewayPort };
    config.registry = { urls: [registryUrl] };
    config.auth.jwt.shop.jwksUrl = `http://127.0.0.1:${gatewayPort}/api/auth/jwks.json`;
    config.accessLog = false;
    gateway = await startGateway({ config });
    const gatewayUrl = gateway.url;
    return {
      gatewayUrl,
      ordersAdminUrl,
      recommendationsFaults,
      paymentsAnswerDelay,
      url: (service) => {
        const instance = running.get(service);
        if (instance === undefined) throw new Error(`no running service ${service}`);
        return instance.url;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
