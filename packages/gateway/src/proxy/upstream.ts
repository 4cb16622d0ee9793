import {
  type BalancerConfig,
  type Discovery,
  discovery,
  type InstanceFilters,
  type InstanceSource,
  type OutlierDetectorOptions,
  type ServiceInstance,
  serviceInstance,
} from "@flotilla/registry";

/** Where an upstream's instances come from. */
export type UpstreamSource =
  /** A service in the registry, through the discovery cache; optionally only versions in a semver range. */
  | { readonly kind: "registry"; readonly service: string; readonly version?: string | undefined }
  /** Fixed URLs (`http://10.0.0.5:8080`). */
  | { readonly kind: "static"; readonly urls: readonly string[] };

/** What {@link upstream} needs. */
export interface UpstreamOptions {
  /** The upstream's name in the configuration. */
  readonly name: string;
  readonly source: UpstreamSource;
  /** The registry's instances; required for a registry source. */
  readonly cache?: InstanceSource | undefined;
  readonly balancer?: BalancerConfig | undefined;
  readonly outlier?: OutlierDetectorOptions | undefined;
}

/**
 * A named set of instances the gateway proxies to, with its own balancer and outlier detector
 * (registry `Discovery`): a registry service — so canary splits of one service by version
 * range keep apart — or static URLs, balanced and ejected the same way.
 */
export class Upstream {
  readonly name: string;
  readonly source: UpstreamSource;
  readonly discovery: Discovery;
  readonly #service: string;
  readonly #filters: InstanceFilters | undefined;
  readonly #cache: InstanceSource;
  readonly #inFlight = new Map<string, number>();
  readonly #origins = new WeakMap<ServiceInstance, string>();

  constructor(options: UpstreamOptions) {
    this.name = options.name;
    this.source = options.source;
    let cache: InstanceSource;
    if (options.source.kind === "registry") {
      if (options.cache === undefined)
        throw new TypeError(`upstream "${options.name}": a registry upstream needs a discovery cache`);
      cache = options.cache;
      this.#service = options.source.service;
      this.#filters = options.source.version === undefined ? undefined : { version: options.source.version };
    } else {
      const instances = options.source.urls.map((url, i) => staticInstance(options.name, url, i));
      cache = { instances: () => instances };
      this.#service = options.name;
      this.#filters = undefined;
    }
    this.#cache = cache;
    this.discovery = discovery({
      cache,
      ...(options.balancer === undefined ? {} : { balancer: options.balancer }),
      outlier: { name: options.name, ...options.outlier },
    });
  }

  /** An instance for one attempt (counted as started until {@link Upstream.report}), or `undefined` when none is available. */
  pick(exclude: ReadonlySet<string> | undefined, key: string | undefined): ServiceInstance | undefined {
    const instance =
      exclude === undefined && key === undefined && this.#filters === undefined
        ? this.discovery.pick(this.#service)
        : this.#pickWith(exclude, key);
    if (instance !== undefined) this.#inFlight.set(instance.id, (this.#inFlight.get(instance.id) ?? 0) + 1);
    return instance;
  }

  #pickWith(exclude: ReadonlySet<string> | undefined, key: string | undefined): ServiceInstance | undefined {
    return this.discovery.pick(this.#service, {
      ...(exclude === undefined ? {} : { exclude }),
      ...(key === undefined ? {} : { key }),
      ...(this.#filters === undefined ? {} : { filters: this.#filters }),
    });
  }

  /** Waits until the registry has answered for this upstream's service once (at once for static URLs). */
  async ready(): Promise<readonly ServiceInstance[]> {
    return this.discovery.ready(this.#service, this.#filters);
  }

  /** Reports an attempt's outcome: a status, or an error when there was no response. */
  report(instance: ServiceInstance, status: number | undefined, error: unknown, durationMs: number): void {
    const left = (this.#inFlight.get(instance.id) ?? 1) - 1;
    if (left > 0) this.#inFlight.set(instance.id, left);
    else this.#inFlight.delete(instance.id);
    this.discovery.report(this.#service, instance, {
      durationMs,
      ...(status === undefined ? {} : { status }),
      ...(error === undefined ? {} : { error }),
    });
  }

  /** `http://address:port` of an instance, built once per instance object. */
  origin(instance: ServiceInstance): string {
    let origin = this.#origins.get(instance);
    if (origin === undefined) {
      origin =
        instance.metadata.origin ??
        `http://${instance.address.includes(":") ? `[${instance.address}]` : instance.address}:${instance.port}`;
      this.#origins.set(instance, origin);
    }
    return origin;
  }

  /** The instances now known (before outlier ejection), for the admin API. */
  instances(): readonly ServiceInstance[] {
    return this.#cache.instances(this.#service, this.#filters ?? {});
  }

  /** Attempts picked and not yet reported, for `instance`. */
  inFlight(instance: ServiceInstance): number {
    return this.#inFlight.get(instance.id) ?? 0;
  }

  /** True while outlier detection keeps `instance` out of rotation. */
  isEjected(instance: ServiceInstance): boolean {
    return this.discovery.outlierDetector(this.#service)?.isEjected(instance.id) ?? false;
  }

  /** Releases the balancer's and outlier detector's timers. */
  close(): void {
    this.discovery.close();
  }
}

/** Builds an {@link Upstream}; throws a `ConfigError` for bad balancer or outlier options. */
export function upstream(options: UpstreamOptions): Upstream {
  return new Upstream(options);
}

function staticInstance(name: string, url: string, index: number): ServiceInstance {
  const parsed = new URL(url);
  const https = parsed.protocol === "https:";
  const port = parsed.port === "" ? (https ? 443 : 80) : Number(parsed.port);
  return serviceInstance({
    id: `${name}-${index}`,
    service: name,
    address: parsed.hostname.replace(/^\[|\]$/g, ""),
    port,
    metadata: { origin: `${parsed.protocol}//${parsed.host}` },
  });
}
