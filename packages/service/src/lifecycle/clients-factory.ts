import type { HealthCheck, Logger, Metrics } from "@flotilla/observability";
import type { Discovery, DiscoveryCache } from "@flotilla/registry";
import { type ServiceClients, serviceClients } from "../client/service-clients.js";
import type { AnyService } from "../server/define-service.js";
import type { ServiceConfig } from "./service-config.js";

/** The service's outbound side once created: what the lifecycle needs of it. */
export interface ServiceClientsHandle {
  /** What handlers get as `ctx.clients`. */
  readonly clients: object;
  /** Readiness checks of the required dependencies, by dependency name. */
  readonly checks: Readonly<Record<string, HealthCheck>>;
  close(): Promise<void>;
}

/** What a {@link ClientsFactory} is given. */
export interface ClientsRequest {
  readonly service: AnyService;
  readonly instanceId: string;
  readonly config: ServiceConfig["dependencies"];
  /** Picks instances of dependencies; absent when no registry is configured. */
  readonly discovery: Discovery | undefined;
  /** The discovery cache behind `discovery`, for readiness checks. */
  readonly cache: DiscoveryCache | undefined;
  readonly logger: Logger;
  /** Typed calls over the wire protocol to instances that accept it (config `wire`). */
  readonly wire: boolean;
  /** The service's metrics, for the client duration histogram. */
  readonly metrics: Metrics;
}

/** Creates the service's clients of its dependencies. */
export type ClientsFactory = (request: ClientsRequest) => ServiceClientsHandle;

/**
 * The default {@link ClientsFactory}: `serviceClients` over the registry's discovery, with each
 * dependency's registry name, version range and policies from `config.dependencies.<name>`, and a
 * readiness check per `required` dependency (fails while no instance in the version range is
 * available). A service with dependencies needs a registry; without dependencies and registry it
 * gets no clients.
 */
export const defaultClientsFactory: ClientsFactory = ({
  service,
  instanceId,
  config,
  discovery,
  cache,
  logger,
  wire,
  metrics,
}) => {
  const names = Object.keys(service.dependencies);
  if (discovery === undefined) {
    if (names.length > 0) {
      throw new Error(
        `the service calls ${names.join(", ")}, so it needs a registry (config "registry.url")`,
      );
    }
    return { clients: {}, checks: {}, close: () => Promise.resolve() };
  }
  const dependencies: Record<string, Parameters<typeof serviceClients>[0]["dependencies"][string]> = {};
  const checks: Record<string, HealthCheck> = {};
  for (const name of names) {
    const contract = service.dependencies[name];
    const settings = config[name];
    const registryName = settings?.service ?? contract.name;
    dependencies[name] = {
      contract,
      ...(settings?.service === undefined ? {} : { service: settings.service }),
      ...(settings?.versions === undefined ? {} : { versions: settings.versions }),
      ...(settings?.policies === undefined ? {} : { policies: settings.policies }),
    };
    if (settings?.required === true && cache !== undefined) {
      const filters = settings.versions === undefined ? {} : { version: settings.versions };
      checks[name] = async () => {
        // ready() settles once, with the first answer; the current set is what readiness reports.
        await cache.ready(registryName, filters);
        const instances = cache.instances(registryName, filters);
        if (instances.length === 0) throw new Error(`no available instance of ${registryName}`);
        return { details: { instances: instances.length } };
      };
    }
  }
  const clients: ServiceClients<typeof dependencies> = serviceClients({
    discovery,
    dependencies,
    caller: { service: service.name, instanceId },
    logger,
    wire,
    metrics,
  });
  return { clients: clients.clients, checks, close: () => clients.close() };
};
