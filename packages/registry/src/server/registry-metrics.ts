import type { Metrics } from "@flotilla/observability";
import type { RegistryCounters } from "./registry-counters.js";

/** What {@link registryMetrics} reads at scrape time. */
export interface RegistryMetricsSource {
  readonly counters: RegistryCounters;
  /** Instance counts by registered service and status. */
  instanceCounts(): Iterable<readonly [service: string, status: string, count: number]>;
  /** Whether lease expiry is suspended. */
  selfPreservation(): boolean;
  /** Parked blocking queries and open event streams. */
  watchers(): { readonly blocking: number; readonly stream: number };
}

type Registry = Metrics["registry"];
type Labels = Record<string, string>;
interface Sample {
  readonly labels: Labels;
  readonly value: number;
}

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge";
  readonly samples: () => Sample[];
}

/**
 * Registers the registry's own metrics in a `@flotilla/observability` {@link Metrics} registry
 * and returns a function that removes them again:
 *
 * | metric | type | labels |
 * | --- | --- | --- |
 * | `flotilla_registry_instances` | gauge | `registered_service`, `status` |
 * | `flotilla_registry_heartbeats_total` | counter | |
 * | `flotilla_registry_registrations_total` | counter | |
 * | `flotilla_registry_lease_expirations_total` | counter | |
 * | `flotilla_registry_self_preservation` | gauge, 0 or 1 | |
 * | `flotilla_registry_watchers` | gauge | `kind`: blocking, stream |
 * | `flotilla_registry_check_runs_total` | counter | `type`: http, tcp; `result`: passing, warning, critical |
 *
 * Every value is read from `source` when Prometheus scrapes; nothing runs between scrapes. The
 * instances' service is `registered_service`, not `service`: `service` is the registry's own
 * default label (`flotilla-registry`), which a per-sample label of that name would replace.
 */
export function registryMetrics(registry: Registry, source: RegistryMetricsSource): () => void {
  const c = source.counters;
  const families: Family[] = [
    {
      name: "flotilla_registry_instances",
      help: "Registered instances by registered service and status.",
      type: "gauge",
      samples: () =>
        [...source.instanceCounts()].map(([service, status, value]) => ({
          labels: { registered_service: service, status },
          value,
        })),
    },
    counter("flotilla_registry_heartbeats_total", "Lease renewals accepted.", () => c.heartbeats),
    counter("flotilla_registry_registrations_total", "Registrations accepted.", () => c.registrations),
    counter(
      "flotilla_registry_lease_expirations_total",
      "Instances whose lease lapsed and that this server marked critical (or removed).",
      () => c.leaseExpirations,
    ),
    {
      name: "flotilla_registry_self_preservation",
      help: "1 while lease expiry is suspended by self-preservation.",
      type: "gauge",
      samples: () => [{ labels: {}, value: source.selfPreservation() ? 1 : 0 }],
    },
    {
      name: "flotilla_registry_watchers",
      help: "Parked blocking queries and open event streams.",
      type: "gauge",
      samples: () => {
        const w = source.watchers();
        return [
          { labels: { kind: "blocking" }, value: w.blocking },
          { labels: { kind: "stream" }, value: w.stream },
        ];
      },
    },
    {
      name: "flotilla_registry_check_runs_total",
      help: "Completed http and tcp health check runs by type and result.",
      type: "counter",
      samples: () =>
        [...c.checkRuns].map(([key, value]) => {
          const [type = "", result = ""] = key.split(" ");
          return { labels: { type, result }, value };
        }),
    },
  ];
  for (const family of families) registry.registerMetric(asPromMetric(family));
  return () => {
    for (const family of families) registry.removeSingleMetric(family.name);
  };
}

function counter(name: string, help: string, read: () => number): Family {
  return { name, help, type: "counter", samples: () => [{ labels: {}, value: read() }] };
}

/**
 * prom-client collects a registered metric by calling `get()` for `{ name, help, type, values }`;
 * this package has no prom-client dependency of its own, so the metric is that shape, collected
 * from the source at each scrape.
 */
function asPromMetric(family: Family): Parameters<Registry["registerMetric"]>[0] {
  const metric = {
    name: family.name,
    help: family.help,
    type: family.type,
    aggregator: "sum",
    get: async () => ({
      name: family.name,
      help: family.help,
      type: family.type,
      aggregator: "sum",
      values: family.samples(),
    }),
    reset: () => {},
  };
  return metric as unknown as Parameters<Registry["registerMetric"]>[0];
}
