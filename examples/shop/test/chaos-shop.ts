import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Gateway, startGateway } from "@flotilla/gateway";
import type { Transport } from "@flotilla/messaging";
import { embeddedStore, registryServer } from "@flotilla/registry";
import { provisionDatabase, type RunningService, startService } from "@flotilla/service";
import pg from "pg";
import { parse } from "yaml";
import { type TcpProxy, tcpProxy } from "../../../packages/messaging/test/fixtures/tcp-proxy.ts";
import { connectTransport, type MessagingSettings, messagingConnector, queueName } from "../lib/messaging.ts";
import type { ShopService } from "../lib/shop-service.ts";
import { catalogShopService } from "../services/catalog/service.ts";
import { Notifier, SimulatedChannel } from "../services/notifications/notifier.ts";
import { notificationsShopService } from "../services/notifications/service.ts";
import { ordersShopService } from "../services/orders/service.ts";
import { recommendationsShopService } from "../services/recommendations/service.ts";
import { reviewsShopService } from "../services/reviews/service.ts";
import { shippingShopService } from "../services/shipping/service.ts";
import { usersShopService } from "../services/users/service.ts";
import { freePort } from "./free-port.ts";
import { deleteRabbitMqNames, machineRabbitMqUrl, namespaceNames } from "./rabbitmq-namespace.ts";

const repo = fileURLToPath(new URL("../../../", import.meta.url));
const shopDir = fileURLToPath(new URL("../", import.meta.url));
const repoNode = join(repo, "node_modules/.bin/node");

/** The services the chaos test runs as child processes (two instances each), so it can SIGKILL them. */
export const processServices = ["payments", "inventory"] as const;
export type ProcessService = (typeof processServices)[number];

/** One child process of a service, as `flotilla up` starts it. */
export interface ServiceInstance {
  readonly instanceId: string;
  readonly child: ChildProcess;
}

/** The shop for the chaos test: most services in this process, payments and inventory as children. */
export interface ChaosShop {
  readonly gatewayUrl: string;
  /** Every process this shop ever spawned (killed ones too). */
  readonly spawned: readonly ChildProcess[];
  /** Faults of recommendations, read on every call. */
  readonly recommendationsFaults: { latencyMs: number; failureRate: number };
  /** Every service reaches the bus (the machine's RabbitMQ) through this proxy: `stop()` is the broker outage. */
  readonly busProxy: TcpProxy;
  /** A client on the given service's database (owned by the shop, closed by `close`). */
  db(service: "orders" | "payments" | "notifications"): pg.Client;
  /** SIGKILLs the instance, waits for its exit, starts it again and waits until it passes its readiness. */
  killAndRestart(service: ProcessService, n: number): Promise<void>;
  /** The children's log directory (deleted by `close`). */
  readonly logDir: string;
  close(): Promise<void>;
}

interface RegistryInstance {
  readonly id: string;
  readonly status: string;
  readonly registeredAt: number;
}

/** Polls the registry until `check` holds for the service's instances; fails after `timeoutMs`. */
async function waitForInstances(
  registryUrl: string,
  service: string,
  check: (instances: readonly RegistryInstance[]) => boolean,
  timeoutMs = 30_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(`${registryUrl}/v1/services/${service}?status=any`);
    const { instances } = (await response.json()) as { instances: RegistryInstance[] };
    if (check(instances)) return;
    if (Date.now() > until)
      throw new Error(
        `${service}: registry condition not met after ${timeoutMs} ms: ${JSON.stringify(instances)}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const allPassing = (count: number) => (instances: readonly RegistryInstance[]) =>
  instances.filter((instance) => instance.status === "passing").length >= count;

/**
 * Starts the chaos shop on the machine's PostgreSQL, with databases of its own (dropped by
 * `close`), and on the machine's RabbitMQ behind a TCP proxy, with an exchange and queues of its
 * own (`shop_<random>`, deleted by `close`).
 */
export async function startChaosShop(
  adminUrl = "postgres://postgres@127.0.0.1:5432/postgres",
  rabbitmqUrl = machineRabbitMqUrl,
): Promise<ChaosShop> {
  const suffix = randomBytes(4).toString("hex");
  const databases: string[] = [];
  const running: RunningService[] = [];
  const clients: pg.Client[] = [];
  const dbClients = new Map<string, pg.Client>();
  const spawned: ChildProcess[] = [];
  const live = new Map<string, ServiceInstance>();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const store = await embeddedStore();
  const registry = registryServer({ store });
  const logDir = await mkdtemp(join(tmpdir(), "shop-chaos-"));
  const brokerTarget = new URL(rabbitmqUrl);
  const busProxy = await tcpProxy({ host: brokerTarget.hostname, port: Number(brokerTarget.port || 5672) });
  const proxiedBrokerUrl = new URL(rabbitmqUrl);
  proxiedBrokerUrl.host = `127.0.0.1:${busProxy.port}`;
  const namespace = `shop_${suffix}`;
  const settings: MessagingSettings = { transport: "rabbitmq", url: proxiedBrokerUrl.toString(), namespace };
  const transports: Transport[] = [];
  const recommendationsFaults = { latencyMs: 0, failureRate: 0 };
  let gateway: Gateway | undefined;
  let registryUrl = "";
  const childEnv = new Map<ProcessService, Record<string, string>>();

  const spawnInstance = (service: ProcessService, n: number): ServiceInstance => {
    const instanceId = `${service}-${n}`;
    const log = openSync(join(logDir, `${instanceId}.log`), "a");
    const child = spawn(
      existsSync(repoNode) ? repoNode : process.execPath,
      [
        "--import",
        join(repo, "scripts/source-hooks.ts"),
        "--conditions=@flotilla/source",
        "--experimental-transform-types",
        "--no-warnings",
        join(shopDir, `services/${service}/main.ts`),
      ],
      {
        cwd: shopDir,
        env: { ...process.env, ...childEnv.get(service), FLOTILLA_INSTANCE_ID: instanceId },
        stdio: ["ignore", log, log],
      },
    );
    closeSync(log);
    const instance = { instanceId, child };
    spawned.push(child);
    live.set(instanceId, instance);
    return instance;
  };

  const stopChild = async (child: ChildProcess): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  };

  const close = async (): Promise<void> => {
    await gateway?.close(1_000);
    for (const instance of live.values()) await stopChild(instance.child);
    for (const service of running.reverse()) await service.stop();
    await registry.close();
    await store.close();
    await busProxy.close();
    const queues = ["notifications", "inventory-restock"].map((consumer) => queueName(namespace, consumer));
    await deleteRabbitMqNames(rabbitmqUrl, namespaceNames(namespace, queues, transports));
    for (const client of clients) await client.end();
    for (const name of databases) {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${name}`);
    }
    await admin.end();
    if (process.env.SHOP_CHAOS_KEEP_LOGS === undefined) await rm(logDir, { recursive: true, force: true });
  };

  try {
    const transport = async (logger: Parameters<typeof connectTransport>[1]) => {
      const connected = await connectTransport(settings, logger);
      transports.push(connected);
      return connected;
    };
    const { port: registryPort } = await registry.listen(0);
    registryUrl = `http://127.0.0.1:${registryPort}`;

    const provision = async (service: string): Promise<string> => {
      const name = `shop_${service}_${suffix}`;
      databases.push(name);
      const { url } = await provisionDatabase({ service, adminUrl, database: name, role: name });
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      clients.push(client);
      dbClients.set(service, client);
      return url;
    };

    for (const service of processServices) {
      childEnv.set(service, {
        FLOTILLA_REGISTRY_URL: registryUrl,
        FLOTILLA_DATABASE_ADMIN_URL: adminUrl,
        FLOTILLA_DATABASE_URL: await provision(service),
        FLOTILLA_MESSAGING_TRANSPORT: settings.transport,
        FLOTILLA_MESSAGING_URL: proxiedBrokerUrl.toString(),
        FLOTILLA_MESSAGING_NAMESPACE: namespace,
        FLOTILLA_PORT: "0",
        FLOTILLA_TELEMETRY_ENABLED: "false",
        FLOTILLA_SHUTDOWN_LINGER: "0",
        FLOTILLA_LOG_PRETTY: "0",
        FLOTILLA_LOG_LEVEL: process.env.SHOP_TEST_LOG_LEVEL ?? "warn",
      });
      for (const n of [1, 2]) spawnInstance(service, n);
    }

    const shops: ShopService[] = [
      usersShopService(),
      catalogShopService(),
      shippingShopService(),
      reviewsShopService(),
      recommendationsShopService({ faults: recommendationsFaults }),
      notificationsShopService({
        notifier: new Notifier({
          push: new SimulatedChannel("push", { failureRate: 0 }),
          email: new SimulatedChannel("email", { failureRate: 0 }),
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
      }),
    ];
    for (const shop of shops) {
      const name = shop.service.contract.name;
      const url = await provision(name);
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
      running.push(service);
    }
    for (const service of processServices)
      await waitForInstances(registryUrl, service, allPassing(2), 60_000);
    for (const shop of shops) await waitForInstances(registryUrl, shop.service.contract.name, allPassing(1));

    const gatewayPort = await freePort();
    const config = parse(await readFile(new URL("../gateway.yaml", import.meta.url), "utf8"));
    config.listen = { port: gatewayPort };
    config.registry = { urls: [registryUrl] };
    config.auth.jwt.shop.jwksUrl = `http://127.0.0.1:${gatewayPort}/api/auth/jwks.json`;
    config.accessLog = false;
    gateway = await startGateway({ config });
  } catch (error) {
    await close();
    throw error;
  }

  return {
    gatewayUrl: gateway.url,
    spawned,
    recommendationsFaults,
    busProxy,
    logDir,
    db: (service) => {
      const client = dbClients.get(service);
      if (client === undefined) throw new Error(`no database client for ${service}`);
      return client;
    },
    async killAndRestart(service, n) {
      const instanceId = `${service}-${n}`;
      const instance = live.get(instanceId);
      if (instance === undefined) throw new Error(`no instance ${instanceId}`);
      if (instance.child.exitCode === null && instance.child.signalCode === null) {
        const exited = once(instance.child, "exit");
        instance.child.kill("SIGKILL");
        await exited;
      }
      const killedAt = Date.now();
      spawnInstance(service, n);
      // A restarted instance registers again under its instance id: wait for the new registration.
      await waitForInstances(registryUrl, service, (instances) =>
        instances.some((i) => i.id === instanceId && i.status === "passing" && i.registeredAt >= killedAt),
      );
    },
    close,
  };
}
