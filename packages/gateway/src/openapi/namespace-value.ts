import { decodePointerToken, encodePointerToken } from "./json-pointer.js";
import { isJsonObject, type JsonObject } from "./openapi-document.js";

/** How one upstream's document is moved into the merged one. */
export interface NamespaceContext {
  /** Put in front of component names and operationIds, with a dot: `users` → `users.User`. */
  readonly namespace: string;
  /** The document is OpenAPI 3.0: turn its schema keywords (`nullable`, boolean `exclusiveMinimum`) into 3.1's. */
  readonly upgradeFrom30: boolean;
  /** The document's `components.schemas` names, to tell a discriminator mapping's schema name from a URI. */
  readonly schemaNames: ReadonlySet<string>;
  /** Document path → public path, for `#/paths/…` references; a path left out is not in it. */
  readonly paths: ReadonlyMap<string, string>;
  /** Collects `<kind>/<name>` of each (renamed) component the walked value refers to. */
  readonly uses: Set<string>;
}

/** The name of `name` in the merged document. */
export function namespaced(namespace: string, name: string): string {
  return `${namespace}.${name}`;
}

/** Objects under these keys map names to values (properties, status codes, media types…), not keywords to values. */
const nameMaps = new Set([
  "properties",
  "patternProperties",
  "$defs",
  "definitions",
  "dependentSchemas",
  "paths",
  "webhooks",
  "responses",
  "content",
  "headers",
  "links",
  "callbacks",
  "encoding",
  "variables",
  "schemas",
  "parameters",
  "requestBodies",
  "securitySchemes",
  "pathItems",
  "examples",
  "scopes",
]);

/** Keys whose values are data (examples, defaults), copied as they are. */
const literals = new Set(["example", "enum", "const", "default", "value"]);

/**
 * Rewrites a reference into the merged document: `#/components/<kind>/<name>…` gets the
 * namespaced name, `#/paths/<path>…` the public path. Other references (external files, URLs)
 * are left as they are.
 */
export function namespaceRef(ref: string, ctx: NamespaceContext): string {
  if (!ref.startsWith("#/")) return ref;
  const tokens = ref.slice(2).split("/");
  if (tokens[0] === "components" && tokens.length >= 3) {
    const kind = decodePointerToken(tokens[1]!);
    const name = namespaced(ctx.namespace, decodePointerToken(tokens[2]!));
    ctx.uses.add(`${kind}/${name}`);
    tokens[2] = encodePointerToken(name);
    return `#/${tokens.join("/")}`;
  }
  if (tokens[0] === "paths" && tokens.length >= 2) {
    const path = ctx.paths.get(decodePointerToken(tokens[1]!));
    if (path === undefined) return ref;
    tokens[1] = encodePointerToken(path);
    return `#/${tokens.join("/")}`;
  }
  return ref;
}

/** A copy of a `security` requirement list with namespaced scheme names. */
export function namespaceSecurity(value: unknown, ctx: NamespaceContext): unknown {
  if (!Array.isArray(value)) return structuredClone(value);
  return value.map((requirement) => {
    if (!isJsonObject(requirement)) return structuredClone(requirement);
    const out: JsonObject = {};
    for (const [scheme, scopes] of Object.entries(requirement)) {
      const name = namespaced(ctx.namespace, scheme);
      ctx.uses.add(`securitySchemes/${name}`);
      out[name] = structuredClone(scopes);
    }
    return out;
  });
}

function namespaceDiscriminator(value: unknown, ctx: NamespaceContext): unknown {
  if (!isJsonObject(value) || !isJsonObject(value.mapping)) return structuredClone(value);
  const mapping: JsonObject = {};
  for (const [key, target] of Object.entries(value.mapping)) {
    if (typeof target !== "string") mapping[key] = target;
    else if (ctx.schemaNames.has(target)) {
      const name = namespaced(ctx.namespace, target);
      ctx.uses.add(`schemas/${name}`);
      mapping[key] = name;
    } else mapping[key] = namespaceRef(target, ctx);
  }
  return { ...structuredClone(value), mapping };
}

/** OpenAPI 3.0 schema keywords in 3.1's words (https://www.openapis.org/blog/2021/02/16/migrating-from-openapi-3-0-to-3-1-0). */
function upgradeSchemaKeywords(schema: JsonObject): JsonObject {
  for (const [exclusive, bound] of [
    ["exclusiveMinimum", "minimum"],
    ["exclusiveMaximum", "maximum"],
  ] as const) {
    if (typeof schema[exclusive] !== "boolean") continue;
    if (schema[exclusive] === true && typeof schema[bound] === "number") {
      schema[exclusive] = schema[bound];
      delete schema[bound];
    } else delete schema[exclusive];
  }
  if (typeof schema.nullable !== "boolean") return schema;
  const nullable = schema.nullable;
  delete schema.nullable;
  if (!nullable) return schema;
  if (Array.isArray(schema.enum) && !schema.enum.includes(null)) schema.enum = [...schema.enum, null];
  if (typeof schema.type === "string") {
    schema.type = [schema.type, "null"];
    return schema;
  }
  if (Array.isArray(schema.type)) {
    if (!schema.type.includes("null")) schema.type = [...schema.type, "null"];
    return schema;
  }
  return { anyOf: [schema, { type: "null" }] };
}

function namespaceObject(value: JsonObject, ctx: NamespaceContext, names: boolean): JsonObject {
  const out: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    if (names) out[key] = namespaceValue(item, ctx);
    else if (key === "$ref" && typeof item === "string") out[key] = namespaceRef(item, ctx);
    else if (key === "operationRef" && typeof item === "string") out[key] = namespaceRef(item, ctx);
    else if (key === "operationId" && typeof item === "string") out[key] = namespaced(ctx.namespace, item);
    else if (key === "security") out[key] = namespaceSecurity(item, ctx);
    else if (key === "discriminator") out[key] = namespaceDiscriminator(item, ctx);
    else if (literals.has(key) || key.startsWith("x-")) out[key] = structuredClone(item);
    else if (nameMaps.has(key) && isJsonObject(item)) out[key] = namespaceObject(item, ctx, true);
    // A schema's `examples` is a list of data; elsewhere it is a map of Example objects (above).
    else if (key === "examples") out[key] = structuredClone(item);
    else out[key] = namespaceValue(item, ctx);
  }
  return ctx.upgradeFrom30 && !names ? upgradeSchemaKeywords(out) : out;
}

/**
 * A copy of `value` (an operation, a component, any part of an upstream's document) fit for the
 * merged document: every `$ref` and discriminator mapping points at the namespaced component,
 * operationIds (also a link's) and security requirement names are namespaced, and for a 3.0
 * document schema keywords are upgraded to 3.1. Example and default values are copied
 * untouched. The input is never changed.
 */
export function namespaceValue(value: unknown, ctx: NamespaceContext): unknown {
  if (Array.isArray(value)) return value.map((item) => namespaceValue(item, ctx));
  if (isJsonObject(value)) return namespaceObject(value, ctx, false);
  return value;
}
