import { z } from "zod";
import type { AnyContract } from "../contract/define-contract.js";
import type { AnyRoute } from "../contract/route.js";
import { isRouteIdempotent } from "./route-idempotency.js";

type Json = Record<string, unknown>;

/** Rewrites every `$ref` of a generated schema through `rename`. */
function rewriteRefs(value: unknown, rename: ReadonlyMap<string, string>): unknown {
  if (Array.isArray(value)) return value.map((item) => rewriteRefs(item, rename));
  if (value === null || typeof value !== "object") return value;
  const out: Json = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] =
      key === "$ref" && typeof item === "string" ? (rename.get(item) ?? item) : rewriteRefs(item, rename);
  }
  return out;
}

function usesRef(value: unknown, ref: string): boolean {
  if (Array.isArray(value)) return value.some((item) => usesRef(item, ref));
  if (value === null || typeof value !== "object") return false;
  return Object.entries(value).some(([key, item]) => (key === "$ref" ? item === ref : usesRef(item, ref)));
}

/**
 * The JSON Schema (2020-12, as OpenAPI 3.1 takes it) of what goes over the wire for `schema`: its
 * input side, since a handler's return value is sent as it is and the client parses it. Shared
 * definitions (`$defs`, recursion) move to `components.schemas` under `name`.
 */
function schemaOf(schema: z.ZodType, name: string, components: Json): Json {
  const generated = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Json;
  const { $schema: _dialect, $defs, ...root } = generated;
  const defs = ($defs ?? {}) as Record<string, unknown>;
  const rename = new Map<string, string>();
  for (const key of Object.keys(defs)) rename.set(`#/$defs/${key}`, `#/components/schemas/${name}.${key}`);
  const selfReferencing = usesRef(root, "#") || Object.values(defs).some((d) => usesRef(d, "#"));
  if (selfReferencing) rename.set("#", `#/components/schemas/${name}`);
  for (const [key, def] of Object.entries(defs)) components[`${name}.${key}`] = rewriteRefs(def, rename);
  const body = rewriteRefs(root, rename) as Json;
  if (!selfReferencing) return body;
  components[name] = body;
  return { $ref: `#/components/schemas/${name}` };
}

/** `/reservations/:sku` → `/reservations/{sku}` (a Fastify regex after the name is dropped). */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)(?:\([^)]*\))?/g, "{$1}");
}

function parameters(
  schema: z.ZodType | undefined,
  where: "path" | "query",
  name: string,
  components: Json,
): Json[] {
  if (schema === undefined) return [];
  const json = schemaOf(schema, name, components);
  const properties = (json.properties ?? {}) as Record<string, Json>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([param, property]) => {
    const { description, ...rest } = property;
    return {
      name: param,
      in: where,
      required: where === "path" || required.has(param),
      schema: rest,
      ...(typeof description === "string" ? { description } : {}),
    };
  });
}

const problemRef = { $ref: "#/components/schemas/Problem" };
const problemContent = { "application/problem+json": { schema: problemRef } };

function problemResponse(description: string): Json {
  return { description, content: problemContent };
}

const sharedResponses: Json = {
  BadRequest: problemResponse(
    "The params, query, body or a Flotilla header failed validation (`FLT_SERVICE_VALIDATION`, listing each path in `issues`), or the body is not JSON (`FLT_SERVICE_MALFORMED_BODY`).",
  ),
  ContentTooLarge: problemResponse("The body is over the server's limit (`FLT_SERVICE_BODY_TOO_LARGE`)."),
  UnsupportedMediaType: problemResponse(
    "The body is not `application/json` (`FLT_SERVICE_UNSUPPORTED_MEDIA_TYPE`).",
  ),
  IdempotencyInProgress: problemResponse(
    "A request with this idempotency key is still running (`FLT_SERVICE_IDEMPOTENCY_IN_PROGRESS`); retry after `Retry-After` seconds.",
  ),
  IdempotencyMismatch: problemResponse(
    "The idempotency key was used with a different request (`FLT_SERVICE_IDEMPOTENCY_MISMATCH`).",
  ),
  InternalError: problemResponse("The handler failed (`FLT_SERVICE_INTERNAL`); logged with the trace id."),
  Unavailable: problemResponse(
    "The instance is shutting down (`FLT_SERVICE_SHUTTING_DOWN`) or a dependency refused the call.",
  ),
  DeadlineExceeded: problemResponse(
    "The request's deadline (`x-flotilla-timeout-ms`) passed before it was answered (`FLT_DEADLINE_EXCEEDED`).",
  ),
};

const sharedParameters: Json = {
  Timeout: {
    name: "x-flotilla-timeout-ms",
    in: "header",
    required: false,
    description: "Milliseconds the caller has left; the answer is due by then (capped by the server).",
    schema: { type: "string", pattern: "^[0-9]+$" },
  },
  Caller: {
    name: "x-flotilla-caller",
    in: "header",
    required: false,
    description: "The calling service, `<service>/<instance id>`.",
    schema: { type: "string" },
  },
  IdempotencyKey: {
    name: "idempotency-key",
    in: "header",
    required: false,
    description:
      "Makes a retry of this non-idempotent call safe: the call is applied once per key within the window; repeats get the first answer with `idempotent-replayed: true`.",
    schema: { type: "string", minLength: 1, maxLength: 255 },
  },
};

const problemSchema: Json = {
  type: "object",
  description: "RFC 9457 problem details.",
  properties: {
    type: { type: "string", format: "uri" },
    title: { type: "string" },
    status: { type: "integer" },
    detail: { type: "string" },
    code: { type: "string", description: "Stable machine-readable code, such as `FLT_SERVICE_VALIDATION`." },
    issues: {
      type: "array",
      items: {
        type: "object",
        properties: { path: { type: "string" }, message: { type: "string" } },
        required: ["path", "message"],
      },
    },
  },
  required: ["type", "title", "status", "code"],
};

function operation(name: string, route: AnyRoute, components: Json): Json {
  const status = String(route.status ?? 200);
  const idempotent = isRouteIdempotent(route);
  const params: unknown[] = [
    ...parameters(route.params, "path", `${name}.params`, components),
    ...parameters(route.query, "query", `${name}.query`, components),
    { $ref: "#/components/parameters/Timeout" },
    { $ref: "#/components/parameters/Caller" },
  ];
  if (!idempotent) params.push({ $ref: "#/components/parameters/IdempotencyKey" });
  const responses: Json = {
    [status]:
      status === "204"
        ? { description: "Success, no content." }
        : {
            description: "Success.",
            content: {
              "application/json": { schema: schemaOf(route.response, `${name}.response`, components) },
            },
          },
    "400": { $ref: "#/components/responses/BadRequest" },
  };
  if (route.body !== undefined) {
    responses["413"] = { $ref: "#/components/responses/ContentTooLarge" };
    responses["415"] = { $ref: "#/components/responses/UnsupportedMediaType" };
  }
  if (!idempotent) {
    responses["409"] = { $ref: "#/components/responses/IdempotencyInProgress" };
    responses["422"] = { $ref: "#/components/responses/IdempotencyMismatch" };
  }
  responses["500"] = { $ref: "#/components/responses/InternalError" };
  responses["503"] = { $ref: "#/components/responses/Unavailable" };
  responses["504"] = { $ref: "#/components/responses/DeadlineExceeded" };
  return {
    operationId: name,
    ...(route.summary === undefined ? {} : { summary: route.summary }),
    parameters: params,
    ...(route.body === undefined
      ? {}
      : {
          requestBody: {
            required: true,
            content: { "application/json": { schema: schemaOf(route.body, `${name}.body`, components) } },
          },
        }),
    responses,
    ...(idempotent ? {} : { "x-flotilla-idempotent": false }),
  };
}

/**
 * The OpenAPI 3.1 document of a contract, generated from its zod schemas with `z.toJSONSchema`
 * (input side: what goes over the wire): one operation per route with `operationId` = the route's
 * name, path and query parameters, request body, the success response, and the problem answers
 * every Flotilla service may give (400, 413/415 for bodies, 409/422 for idempotency keys, 500,
 * 503, 504). Each service serves it at `/openapi.json`.
 */
export function serviceOpenApi(contract: AnyContract): Json {
  const schemas: Json = { Problem: problemSchema };
  const paths: Record<string, Json> = {};
  for (const [name, route] of Object.entries(contract.routes)) {
    const path = openApiPath(route.path);
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation(name, route, schemas);
  }
  return {
    openapi: "3.1.0",
    info: { title: contract.name, version: contract.version },
    paths,
    components: { schemas, parameters: sharedParameters, responses: sharedResponses },
  };
}
