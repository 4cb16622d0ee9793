import type { Clock } from "../clock.js";
import { ConfigError, type ConfigIssue } from "../errors.js";
import { EventStream } from "../event-stream.js";
import { Pipeline } from "../pipeline.js";
import type { Policy } from "../policy-context.js";
import { ConfigReader, join } from "./config-reader.js";
import { type PolicyKind, type PolicyOf, policyKinds } from "./policy-kinds.js";

/** Base configurations and named instances of one kind of policy, as in Resilience4j's `configs` / `instances`. */
export interface PolicyKindConfig {
  /** Shared base configurations by name; `default` applies to every instance that names no `baseConfig`. */
  readonly configs?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Named instances: their own options over their base configuration (`baseConfig`, else `default`). */
  readonly instances?: Readonly<
    Record<string, Readonly<Record<string, unknown>> & { readonly baseConfig?: string }>
  >;
}

/** The whole resilience configuration: one section per kind of policy. */
export type ResilienceConfig = { readonly [K in PolicyKind]?: PolicyKindConfig };

/** Emitted when the registry builds a policy instance (the observability exporter listens here). */
export interface RegistryEvent {
  readonly type: "created";
  readonly kind: PolicyKind;
  readonly name: string;
  readonly policy: Policy;
}

/** Options of {@link ResilienceRegistry} that are not configuration data. */
export interface RegistryOptions {
  /** The clock for every policy the registry builds. */
  readonly clock?: Clock;
}

/**
 * Named policy instances built from plain configuration (durations as `"5s"` or milliseconds),
 * the way Resilience4j's `instances` and `configs` work. Everything is validated in the
 * constructor: one {@link ConfigError} lists every bad value with its exact path, such as
 * `circuitBreaker.instances.payments.failureRateThreshold: must be at most 100, got 120`.
 *
 * Instances are built on first use and then shared. A name that the configuration does not list
 * gets the `default` base configuration (or the policy's own defaults).
 */
export class ResilienceRegistry {
  /** One event per policy instance built. */
  readonly events = new EventStream<RegistryEvent>();
  readonly #config: ResilienceConfig;
  readonly #clock: Clock | undefined;
  readonly #instances = new Map<string, Policy>();

  constructor(config: ResilienceConfig = {}, options: RegistryOptions = {}) {
    this.#config = config;
    this.#clock = options.clock;
    const issues = validate(config);
    if (issues.length > 0) throw new ConfigError(issues);
  }

  /** The circuit breaker named `name`. */
  circuitBreaker(name: string): PolicyOf<"circuitBreaker"> {
    return this.get("circuitBreaker", name);
  }

  /** The retry policy named `name`. */
  retry(name: string): PolicyOf<"retry"> {
    return this.get("retry", name);
  }

  /** The per-attempt timeout named `name`. */
  timeout(name: string): PolicyOf<"timeout"> {
    return this.get("timeout", name);
  }

  /** The total timeout (covering all attempts) named `name`. */
  totalTimeout(name: string): PolicyOf<"totalTimeout"> {
    return this.get("totalTimeout", name);
  }

  /** The bulkhead named `name`. */
  bulkhead(name: string): PolicyOf<"bulkhead"> {
    return this.get("bulkhead", name);
  }

  /** The Resilience4j-style rate limiter named `name`. */
  rateLimiter(name: string): PolicyOf<"rateLimiter"> {
    return this.get("rateLimiter", name);
  }

  /** The hedging policy named `name`. */
  hedging(name: string): PolicyOf<"hedging"> {
    return this.get("hedging", name);
  }

  /** The fallback named `name`. */
  fallback(name: string): PolicyOf<"fallback"> {
    return this.get("fallback", name);
  }

  /** The instance of `kind` named `name`, built on first use. */
  get<K extends PolicyKind>(kind: K, name: string): PolicyOf<K> {
    const id = `${kind}/${name}`;
    let policy = this.#instances.get(id);
    if (policy === undefined) {
      const options = { ...this.#merged(kind, name), name, ...(this.#clock ? { clock: this.#clock } : {}) };
      // A name the configuration does not list is checked here, with the path it would have had.
      const reader = new ConfigReader();
      policyKinds[kind].parse(options, reader, join(join(kind, "instances"), name));
      reader.throwIfInvalid();
      policy = policyKinds[kind].create(options);
      this.#instances.set(id, policy);
      if (this.events.active) this.events.emit({ type: "created", kind, name, policy });
    }
    return policy as PolicyOf<K>;
  }

  /**
   * Every kind of policy configured for `name` (as an instance, or through a `default` config),
   * composed in the recommended order: fallback, totalTimeout, retry, circuitBreaker, rateLimiter,
   * hedging, timeout, bulkhead. Throws when nothing is configured for `name`.
   */
  pipeline(name: string): Pipeline {
    const kinds = pipelineOrder.filter((kind) => {
      const section = this.#config[kind];
      return section?.instances?.[name] !== undefined || section?.configs?.default !== undefined;
    });
    if (kinds.length === 0) {
      throw new TypeError(
        `resilience registry: no policy is configured for "${name}" and there is no default config`,
      );
    }
    return new Pipeline(kinds.map((kind) => this.get(kind, name)));
  }

  /** Every instance built so far, for exporters. */
  *instances(): IterableIterator<{ kind: PolicyKind; name: string; policy: Policy }> {
    for (const [id, policy] of this.#instances) {
      const slash = id.indexOf("/");
      yield { kind: id.slice(0, slash) as PolicyKind, name: id.slice(slash + 1), policy };
    }
  }

  #merged(kind: PolicyKind, name: string): Record<string, unknown> {
    const section = this.#config[kind] ?? {};
    const own = section.instances?.[name] ?? {};
    const base = section.configs?.[own.baseConfig ?? "default"] ?? {};
    const { baseConfig: _ignored, ...rest } = own;
    return { ...base, ...rest };
  }
}

/** The order in which {@link ResilienceRegistry.pipeline} composes policies, outermost first. */
export const pipelineOrder: readonly PolicyKind[] = [
  "fallback",
  "totalTimeout",
  "retry",
  "circuitBreaker",
  "rateLimiter",
  "hedging",
  "timeout",
  "bulkhead",
];

/** Builds a {@link ResilienceRegistry}; throws a {@link ConfigError} listing every bad value. */
export function resilienceRegistry(
  config: ResilienceConfig = {},
  options: RegistryOptions = {},
): ResilienceRegistry {
  return new ResilienceRegistry(config, options);
}

function validate(config: ResilienceConfig): ConfigIssue[] {
  const reader = new ConfigReader();
  const root = reader.object(config, "");
  reader.knownKeys(root, Object.keys(policyKinds), "");
  for (const kind of Object.keys(policyKinds) as PolicyKind[]) {
    const section = reader.object(root[kind], kind);
    reader.knownKeys(section, ["configs", "instances"], kind);
    const configs = reader.object(section.configs, join(kind, "configs"));
    for (const [configName, raw] of Object.entries(configs)) {
      const path = join(join(kind, "configs"), configName);
      const base = withoutName(reader.object(raw, path));
      // A base config may leave out what its instances provide (a required option): report only
      // the problems of what it does say.
      collect(
        reader,
        path,
        (scratch) => policyKinds[kind].parse(base, scratch, path),
        (key) => key === "" || key in base,
      );
    }
    const instances = reader.object(section.instances, join(kind, "instances"));
    for (const [instanceName, raw] of Object.entries(instances)) {
      const path = join(join(kind, "instances"), instanceName);
      const own = reader.object(raw, path);
      const baseName = own.baseConfig ?? "default";
      if (typeof baseName !== "string") {
        reader.issue(join(path, "baseConfig"), "expected the name of a config");
        continue;
      }
      if (own.baseConfig !== undefined && configs[baseName] === undefined) {
        reader.issue(
          join(path, "baseConfig"),
          `unknown config "${baseName}"; expected one of ${Object.keys(configs).join(", ") || "(none defined)"}`,
        );
        continue;
      }
      // Problems of values inherited from the base config were reported at the base config's path;
      // what the instance says, and what neither says (a missing required option), is reported here.
      const { baseConfig: _ignored, ...rest } = own;
      const base = withoutName(reader.object(configs[baseName], ""));
      const merged = { ...base, ...rest };
      collect(
        reader,
        path,
        (scratch) => policyKinds[kind].parse(merged, scratch, path),
        (key) => key === "" || key in rest || !(key in base),
      );
    }
  }
  return reader.issues;
}

/** Runs `parse` on a scratch reader and keeps the issues whose top-level key (or "" for the whole object) `keep` accepts. */
function collect(
  reader: ConfigReader,
  path: string,
  parse: (scratch: ConfigReader) => void,
  keep: (key: string) => boolean,
): void {
  const scratch = new ConfigReader();
  parse(scratch);
  for (const issue of scratch.issues) {
    if (keep(issue.path.slice(path.length + 1).split(/[.[]/)[0] ?? "")) reader.issues.push(issue);
  }
}

function withoutName(raw: Record<string, unknown>): Record<string, unknown> {
  const { name: _name, ...rest } = raw;
  return rest;
}
