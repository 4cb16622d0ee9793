import { registrationLimits } from "../registration-schema.js";

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const param = (name: string): Json => ({ $ref: `#/components/parameters/${name}` });
const problem = (description: string): Json => ({
  description,
  content: { "application/problem+json": { schema: ref("Problem") } },
});
const json = (description: string, schema: Json, indexed = true): Json => ({
  description,
  ...(indexed ? { headers: { "X-Flotilla-Index": { $ref: "#/components/headers/Index" } } } : {}),
  content: { "application/json": { schema } },
});
const sse = (description: string, data: string): Json => ({
  description: `${description} Events: \`snapshot\` (skipped when resuming with nothing changed), then \`update\` after each change, \`id\` = index; data is a ${data}. A \`: ping\` comment every 15 s.`,
  content: { "text/event-stream": { schema: { type: "string" } } },
});
const blocking = [param("index"), param("wait")];
const filters = [param("version"), param("tag"), param("zone"), param("status")];
const common = {
  "400": problem("A bad parameter or body; `issues` names each by path."),
  "500": problem("A bug in the server (`FLT_REGISTRY_INTERNAL`)."),
  "503": problem("The store failed or the server is closing."),
};
const duration = {
  oneOf: [
    { type: "number", minimum: 0, description: "milliseconds" },
    { type: "string", examples: ["5s", "250ms"] },
  ],
};
const name = { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$" };
const L = registrationLimits;

/**
 * The OpenAPI 3.1 description of the registry HTTP API (README.md, "HTTP API"), served at `/openapi.json`.
 * Built once; the same object for every caller, so do not change it.
 */
export const openApiDocument: Readonly<Json> = Object.freeze({
  openapi: "3.1.0",
  info: {
    title: "Flotilla registry",
    version: "1.0.0",
    description:
      "Service registry, discovery and KV. Blocking queries: `?index=N&wait=30s` answer when the result's index differs from N or after `wait` (±1/16 jitter, at most 5 min). Errors are RFC 9457 problems with a `FLT_REGISTRY_*` code.",
  },
  paths: {
    "/v1/instances": {
      post: {
        operationId: "register",
        summary: "Register (or replace) an instance and grant its lease.",
        requestBody: {
          required: true,
          content: { "application/json": { schema: ref("RegistrationRequest") } },
        },
        responses: {
          "200": json("Registered.", ref("RegistrationResponse")),
          ...common,
          "413": problem(`The body exceeds ${64 * 1024} bytes.`),
          "415": problem("The body is not `application/json`."),
          "429": problem("The registration rate or the instance limit was reached; see `Retry-After`."),
        },
      },
    },
    "/v1/instances/{service}/{id}": {
      parameters: [param("service"), param("id")],
      delete: {
        operationId: "deregister",
        summary: "Remove an instance and revoke its lease.",
        responses: {
          "200": json("Removed.", {
            type: "object",
            required: ["index"],
            properties: { index: { type: "integer" } },
          }),
          "404": problem("No such instance."),
          ...common,
        },
      },
    },
    "/v1/leases/{lease}/renew": {
      parameters: [{ name: "lease", in: "path", required: true, schema: { type: "string" } }],
      put: {
        operationId: "renew",
        summary: "Renew a lease (heartbeat).",
        responses: {
          "200": json(
            "Renewed.",
            { type: "object", required: ["ttlMs"], properties: { ttlMs: { type: "integer" } } },
            false,
          ),
          "404": problem("`FLT_REGISTRY_UNKNOWN_LEASE`: the lease expired or was revoked; register again."),
          "503": common["503"],
        },
      },
    },
    "/v1/services": {
      get: {
        operationId: "services",
        summary: "Every service with its instance counts (blocking).",
        parameters: blocking,
        responses: {
          "200": json("The services.", ref("ServiceList")),
          ...common,
          "429": problem("Too many blocking queries."),
        },
      },
    },
    "/v1/services/{service}": {
      parameters: [param("service")],
      get: {
        operationId: "instances",
        summary: "A service's instances that pass the filters (blocking); an unknown service has none.",
        parameters: [...filters, ...blocking],
        responses: {
          "200": json("The instances.", ref("InstanceList")),
          ...common,
          "429": problem("Too many blocking queries."),
        },
      },
    },
    "/v1/services/{service}/stream": {
      parameters: [param("service")],
      get: {
        operationId: "streamInstances",
        summary: "Server-Sent Events of a service's instances that pass the filters.",
        parameters: [...filters, param("deltas"), param("lastEventId"), { ...param("index") }],
        responses: {
          "200": sse(
            "The stream. With `deltas=true`, each change after the snapshot is a `delta` event (data: an `InstanceDelta`, `id` = its index) rather than an `update`; a `snapshot` may come again mid-stream (after the server re-listed its store, or when most of the list changed) and replaces the list.",
            "`InstanceList`",
          ),
          ...common,
          "429": problem("Too many streams."),
        },
      },
    },
    "/v1/kv": {
      get: {
        operationId: "kvList",
        summary: "Every KV entry under a prefix, sorted by key (blocking).",
        parameters: [param("prefix"), ...blocking],
        responses: {
          "200": json("The entries.", ref("KvList")),
          ...common,
          "429": problem("Too many blocking queries."),
        },
      },
    },
    "/v1/kv/{key}": {
      parameters: [param("key")],
      get: {
        operationId: "kvGet",
        summary: "One KV entry (blocking: a wait on a missing key ends when it is created).",
        parameters: blocking,
        responses: {
          "200": json("The entry.", ref("KvEntry")),
          "404": {
            ...problem("No such key."),
            headers: { "X-Flotilla-Index": { $ref: "#/components/headers/Index" } },
          },
          ...common,
          "429": problem("Too many blocking queries."),
        },
      },
      put: {
        operationId: "kvPut",
        summary: "Write a value (the body, any content type, UTF-8).",
        parameters: [param("cas")],
        requestBody: {
          required: true,
          content: { "*/*": { schema: { type: "string", maxLength: 512 * 1024 } } },
        },
        responses: {
          "200": json("Written.", ref("KvWritten")),
          "409": json(
            "`cas` did not match; `modifyIndex` is the key's current one (0: absent).",
            ref("CasFailed"),
            false,
          ),
          ...common,
          "413": problem("The value exceeds 512 KiB."),
          "429": problem("The KV entry limit was reached."),
        },
      },
      delete: {
        operationId: "kvDelete",
        summary: "Delete a key.",
        parameters: [param("cas")],
        responses: {
          "200": json("Deleted.", {
            type: "object",
            required: ["ok", "index"],
            properties: { ok: { const: true }, index: { type: "integer" } },
          }),
          "404": problem("No such key."),
          "409": json("`cas` did not match.", ref("CasFailed"), false),
          ...common,
        },
      },
    },
    "/v1/kv-stream": {
      get: {
        operationId: "kvStream",
        summary: "Server-Sent Events of the KV entries under a prefix, or of one key.",
        parameters: [
          param("prefix"),
          { name: "key", in: "query", schema: { type: "string" } },
          param("lastEventId"),
          param("index"),
        ],
        responses: { "200": sse("The stream.", "`KvList`"), ...common, "429": problem("Too many streams.") },
      },
    },
    "/openapi.json": {
      get: {
        operationId: "openapi",
        summary: "This document.",
        responses: { "200": { description: "OpenAPI 3.1.", content: { "application/json": {} } } },
      },
    },
    "/health": {
      get: {
        operationId: "health",
        summary: "The registry's own health.",
        responses: {
          "200": json(
            "`pass`, or `warn` while self-preservation holds lapsed instances.",
            ref("Health"),
            false,
          ),
          "503": json(
            "`fail` with a `reason`: the store did not answer within 1 s, or the server is not serving (closing).",
            ref("Health"),
            false,
          ),
        },
      },
    },
    "/metrics": {
      get: {
        operationId: "metrics",
        summary: "Prometheus metrics.",
        responses: { "200": { description: "Prometheus text format 0.0.4.", content: { "text/plain": {} } } },
      },
    },
  },
  components: {
    headers: {
      Index: { description: "The store index the answer reflects.", schema: { type: "integer" } },
    },
    parameters: {
      service: { name: "service", in: "path", required: true, schema: name },
      id: { name: "id", in: "path", required: true, schema: name },
      key: { name: "key", in: "path", required: true, description: "May contain `/`.", schema: ref("KvKey") },
      index: {
        name: "index",
        in: "query",
        description: "Blocking query: the index of the answer the caller has.",
        schema: { type: "integer", minimum: 0 },
      },
      wait: {
        name: "wait",
        in: "query",
        description: "Blocking query: how long to wait (default 30s, at most 5m).",
        schema: { type: "string" },
      },
      version: {
        name: "version",
        in: "query",
        description: "An npm semver range (`^1.2`, `>=2 <3`); prereleases match.",
        schema: { type: "string" },
      },
      tag: {
        name: "tag",
        in: "query",
        description: "Repeatable; all must match.",
        schema: { type: "array", items: { type: "string" } },
        style: "form",
        explode: true,
      },
      zone: { name: "zone", in: "query", schema: { type: "string" } },
      deltas: {
        name: "deltas",
        in: "query",
        description:
          "`true`: after the snapshot, send what changed (`delta` events) rather than the whole list (`update` events).",
        schema: { type: "boolean", default: false },
      },
      status: {
        name: "status",
        in: "query",
        description: "Default: passing and warning.",
        schema: { enum: ["passing", "warning", "critical", "any"] },
      },
      cas: {
        name: "cas",
        in: "query",
        description: "0: only when absent; N: only when the key's modifyIndex is N.",
        schema: { type: "integer", minimum: 0 },
      },
      prefix: { name: "prefix", in: "query", schema: { type: "string" } },
      lastEventId: {
        name: "Last-Event-ID",
        in: "header",
        description: "Resume a stream: no snapshot when nothing changed since.",
        schema: { type: "string" },
      },
    },
    schemas: {
      Problem: {
        type: "object",
        required: ["type", "title", "status", "detail", "code"],
        properties: {
          type: { type: "string", format: "uri" },
          title: { type: "string" },
          status: { type: "integer" },
          detail: { type: "string" },
          code: { type: "string", pattern: "^FLT_REGISTRY_" },
          issues: {
            type: "array",
            items: {
              type: "object",
              required: ["path", "message"],
              properties: { path: { type: "string" }, message: { type: "string" } },
            },
          },
        },
      },
      HttpCheck: {
        type: "object",
        additionalProperties: false,
        required: ["type", "url"],
        properties: {
          type: { const: "http" },
          name: { type: "string" },
          kind: { enum: ["liveness", "readiness"] },
          url: { type: "string", format: "uri", pattern: "^https?://" },
          intervalMs: duration,
          timeoutMs: duration,
          deregisterCriticalAfterMs: duration,
        },
      },
      TcpCheck: {
        type: "object",
        additionalProperties: false,
        required: ["type"],
        properties: {
          type: { const: "tcp" },
          name: { type: "string" },
          kind: { enum: ["liveness", "readiness"] },
          address: { type: "string" },
          port: { type: "integer", minimum: 1, maximum: 65535 },
          intervalMs: duration,
          timeoutMs: duration,
          deregisterCriticalAfterMs: duration,
        },
      },
      TtlCheck: {
        type: "object",
        additionalProperties: false,
        required: ["type"],
        properties: { type: { const: "ttl" }, name: { type: "string" }, deregisterCriticalAfterMs: duration },
      },
      CheckDefinition: {
        oneOf: [ref("HttpCheck"), ref("TcpCheck"), ref("TtlCheck")],
        discriminator: { propertyName: "type" },
      },
      RegistrationRequest: {
        type: "object",
        additionalProperties: false,
        required: ["service", "id", "address", "port"],
        properties: {
          service: name,
          id: name,
          address: { type: "string", minLength: 1, maxLength: L.addressLength },
          port: { type: "integer", minimum: 1, maximum: 65535 },
          version: { type: "string", description: "semver; default 0.0.0" },
          tags: {
            type: "array",
            maxItems: L.tags,
            items: { type: "string", minLength: 1, maxLength: L.tagLength },
          },
          metadata: {
            type: "object",
            maxProperties: L.metadataEntries,
            additionalProperties: { type: "string" },
            description: `At most ${L.metadataBytes} bytes of keys and values.`,
          },
          zone: { type: "string" },
          weight: { type: "number", minimum: 0 },
          checks: { type: "array", maxItems: L.checks, items: ref("CheckDefinition") },
          ttlMs: { ...duration, description: "Lease TTL, 1 s to 1 h; default 10 s." },
        },
      },
      CheckStatus: {
        type: "object",
        required: ["name", "type", "kind", "status", "since"],
        properties: {
          name: { type: "string" },
          type: { enum: ["http", "tcp", "ttl"] },
          kind: { enum: ["liveness", "readiness"] },
          status: ref("HealthStatus"),
          output: { type: "string" },
          since: { type: "integer", description: "epoch ms" },
        },
      },
      HealthStatus: { enum: ["passing", "warning", "critical"] },
      InstanceRecord: {
        type: "object",
        required: [
          "id",
          "service",
          "address",
          "port",
          "version",
          "weight",
          "tags",
          "metadata",
          "status",
          "checks",
          "lease",
          "ttlMs",
          "registeredAt",
          "modifyIndex",
        ],
        properties: {
          id: name,
          service: name,
          address: { type: "string" },
          port: { type: "integer" },
          version: { type: "string" },
          zone: { type: "string" },
          weight: { type: "number" },
          tags: { type: "array", items: { type: "string" } },
          metadata: { type: "object", additionalProperties: { type: "string" } },
          status: ref("HealthStatus"),
          checks: { type: "array", items: ref("CheckStatus") },
          lease: { type: "string" },
          ttlMs: { type: "integer" },
          registeredAt: { type: "integer" },
          modifyIndex: { type: "integer" },
        },
      },
      RegistrationResponse: {
        type: "object",
        required: ["instance", "lease", "index"],
        properties: {
          instance: ref("InstanceRecord"),
          lease: {
            type: "object",
            required: ["id", "ttlMs"],
            properties: { id: { type: "string" }, ttlMs: { type: "integer" } },
          },
          index: { type: "integer" },
        },
      },
      InstanceList: {
        type: "object",
        required: ["index", "instances"],
        properties: {
          index: { type: "integer" },
          instances: { type: "array", items: ref("InstanceRecord") },
        },
      },
      InstanceDelta: {
        type: "object",
        description:
          "What changed: it applies to the list at index `from` (the previous event's) and brings it to `index`. A client holding another index missed events and must open a new stream.",
        required: ["index", "from", "put", "delete"],
        properties: {
          index: { type: "integer" },
          from: { type: "integer" },
          put: {
            type: "array",
            description: "Instances added or changed, whole, sorted by id.",
            items: ref("InstanceRecord"),
          },
          delete: {
            type: "array",
            description: "Ids of instances removed or no longer passing the filters.",
            items: { type: "string" },
          },
        },
      },
      ServiceList: {
        type: "object",
        required: ["index", "services"],
        properties: {
          index: { type: "integer" },
          services: {
            type: "array",
            items: {
              type: "object",
              required: ["name", "instances", "passing"],
              properties: {
                name: { type: "string" },
                instances: { type: "integer" },
                passing: { type: "integer" },
              },
            },
          },
        },
      },
      KvKey: { type: "string", minLength: 1, maxLength: 512, pattern: "^(?!/)[A-Za-z0-9._~/-]+$" },
      KvEntry: {
        type: "object",
        required: ["key", "value", "createIndex", "modifyIndex"],
        properties: {
          key: ref("KvKey"),
          value: { type: "string" },
          createIndex: { type: "integer" },
          modifyIndex: { type: "integer" },
        },
      },
      KvList: {
        type: "object",
        required: ["index", "entries"],
        properties: { index: { type: "integer" }, entries: { type: "array", items: ref("KvEntry") } },
      },
      KvWritten: {
        type: "object",
        required: ["ok", "modifyIndex"],
        properties: { ok: { const: true }, modifyIndex: { type: "integer" } },
      },
      CasFailed: {
        type: "object",
        required: ["ok", "modifyIndex"],
        properties: { ok: { const: false }, modifyIndex: { type: "integer" } },
      },
      Health: {
        type: "object",
        required: ["status", "selfPreservation", "store"],
        properties: {
          status: { enum: ["pass", "warn", "fail"] },
          selfPreservation: { type: "boolean" },
          store: { type: "string" },
          reason: { type: "string", description: "Why, with `fail`." },
        },
      },
    },
  },
});
