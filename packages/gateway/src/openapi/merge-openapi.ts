import { GatewayError, GatewayErrorCode } from "../chain/gateway-error.js";
import { resolveLocalRef } from "./json-pointer.js";
import { type NamespaceContext, namespaced, namespaceSecurity, namespaceValue } from "./namespace-value.js";
import { isJsonObject, type JsonObject, type OpenApiDocument } from "./openapi-document.js";
import { type ExposedAs, pathShape, publicPath } from "./public-path.js";

/** One upstream's OpenAPI document and how the gateway exposes it. */
export interface OpenApiMergeInput {
  /** The upstream's name; it namespaces the document's operationIds and components (`users.User`). */
  readonly upstream: string;
  /** Its OpenAPI 3.0 or 3.1 document, as JSON. Never changed. */
  readonly document: OpenApiDocument;
  /** Where its paths appear on the gateway. */
  readonly exposedAs: ExposedAs;
}

/** The merged document's `info`. */
export interface OpenApiMergeInfo {
  readonly title: string;
  readonly version: string;
  readonly description?: string;
}

/** Options of {@link mergeOpenApi}. */
export interface OpenApiMergeOptions {
  /**
   * Whether the gateway serves `method` (upper-case) at `publicPath` (an OpenAPI template,
   * `/api/users/{id}`); operations it does not serve are left out. Default: all are served.
   */
  readonly isExposed?: (method: string, publicPath: string) => boolean;
}

/** Two upstreams documenting the same public operation: the first input's is kept. */
export interface OpenApiMergeConflict {
  /** Upper-case. */
  readonly method: string;
  /** The public path in the merged document. */
  readonly path: string;
  /** The upstream whose operation is in the merged document. */
  readonly kept: string;
  /** The upstream whose operation was left out. */
  readonly dropped: string;
  /** The left-out operation's public path: differs from {@link path} only in parameter names. */
  readonly droppedPath: string;
}

/** What {@link mergeOpenApi} returns: an OpenAPI 3.1 document plus the conflicts it found. */
export interface MergedOpenApiDocument extends OpenApiDocument {
  readonly openapi: "3.1.0";
  readonly paths: Readonly<Record<string, JsonObject>>;
  /** Operations two inputs both documented, in input order; empty when there were none. */
  readonly "x-flotilla-conflicts": readonly OpenApiMergeConflict[];
}

const httpMethods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;

const componentKinds = [
  "schemas",
  "responses",
  "parameters",
  "examples",
  "requestBodies",
  "headers",
  "securitySchemes",
  "links",
  "callbacks",
  "pathItems",
] as const;

interface MergedComponent {
  readonly kind: string;
  readonly name: string;
  readonly value: unknown;
  readonly uses: ReadonlySet<string>;
}

interface PathSlot {
  /** The public path as first documented. */
  readonly path: string;
  /** The upstream that documented it first. */
  readonly upstream: string;
  /** Method → the upstream whose operation was kept. */
  readonly methods: Map<string, string>;
}

function invalid(message: string): GatewayError {
  return new GatewayError(GatewayErrorCode.ConfigInvalid, `cannot merge OpenAPI documents: ${message}`);
}

/** Letters, digits, `_` and `-`: a component-name-safe namespace without dots, so `<namespace>.` is unambiguous. */
function namespaceOf(upstream: string): string {
  return upstream.replace(/[^A-Za-z0-9_-]/g, "_");
}

function validate(inputs: readonly OpenApiMergeInput[]): string[] {
  const seen = new Map<string, string>();
  return inputs.map((input, index) => {
    const where = `inputs[${index}]`;
    if (typeof input.upstream !== "string" || input.upstream === "")
      throw invalid(`${where}.upstream is required`);
    const document: unknown = input.document;
    if (
      !isJsonObject(document) ||
      typeof document.openapi !== "string" ||
      !/^3\.\d+\./.test(document.openapi)
    ) {
      throw invalid(`${where}.document (${input.upstream}) is not an OpenAPI 3.x document`);
    }
    if (typeof input.exposedAs?.prefix !== "string") throw invalid(`${where}.exposedAs.prefix is required`);
    const namespace = namespaceOf(input.upstream);
    const other = seen.get(namespace);
    if (other !== undefined) {
      throw invalid(
        `${where}.upstream "${input.upstream}" and "${other}" would share the namespace "${namespace}"`,
      );
    }
    seen.set(namespace, input.upstream);
    return namespace;
  });
}

/** A path item, with a local `$ref` (`#/components/pathItems/…`) followed; `undefined` for anything else. */
function pathItemOf(document: OpenApiDocument, value: unknown): JsonObject | undefined {
  let item = value;
  for (let hops = 0; hops < 8 && isJsonObject(item) && typeof item.$ref === "string"; hops++) {
    const { $ref, ...siblings } = item;
    const target = resolveLocalRef(document, $ref);
    if (!isJsonObject(target)) return undefined;
    item = { ...target, ...siblings };
  }
  return isJsonObject(item) && typeof item.$ref !== "string" ? item : undefined;
}

/** `in:name` of a parameter (following a local `$ref`), or `undefined` when it cannot be told. */
function parameterKey(document: OpenApiDocument, parameter: unknown): string | undefined {
  const resolved =
    isJsonObject(parameter) && typeof parameter.$ref === "string"
      ? resolveLocalRef(document, parameter.$ref)
      : parameter;
  if (!isJsonObject(resolved) || typeof resolved.name !== "string" || typeof resolved.in !== "string") {
    return undefined;
  }
  return `${resolved.in}:${resolved.name}`;
}

/**
 * One operation for the merged document: namespaced, without `servers` (clients go through the
 * gateway), with the path item's parameters the operation does not override and the document's
 * default `security` when it names none, since neither the path item nor the root is shared
 * with the other inputs.
 */
function mergedOperation(
  document: OpenApiDocument,
  item: JsonObject,
  operation: JsonObject,
  ctx: NamespaceContext,
): JsonObject {
  const out = namespaceValue(operation, ctx) as JsonObject;
  delete out.servers;
  const shared = Array.isArray(item.parameters) ? item.parameters : [];
  if (shared.length > 0) {
    const own = Array.isArray(operation.parameters) ? operation.parameters : [];
    const overridden = new Set(own.map((parameter) => parameterKey(document, parameter)));
    const inherited = shared
      .filter((parameter) => {
        const key = parameterKey(document, parameter);
        return key === undefined || !overridden.has(key);
      })
      .map((parameter) => namespaceValue(parameter, ctx));
    out.parameters = [...inherited, ...(Array.isArray(out.parameters) ? out.parameters : [])];
  }
  if (out.security === undefined && document.security !== undefined) {
    out.security = namespaceSecurity(document.security, ctx);
  }
  return out;
}

/** Components reachable from `roots` through the references between components. */
function reachable(
  roots: ReadonlySet<string>,
  components: ReadonlyMap<string, MergedComponent>,
): Set<string> {
  const seen = new Set<string>();
  const queue = [...roots];
  while (queue.length > 0) {
    const key = queue.pop()!;
    if (seen.has(key)) continue;
    seen.add(key);
    const component = components.get(key);
    if (component !== undefined) for (const use of component.uses) if (!seen.has(use)) queue.push(use);
  }
  return seen;
}

/**
 * Merges upstreams' OpenAPI 3.x documents into the gateway's one OpenAPI 3.1 document. Pure:
 * no I/O, the inputs are not changed.
 *
 * - Each path moves to its public path ({@link publicPath}: `stripPrefix` off, `prefix` on);
 *   paths outside `stripPrefix` and operations `isExposed` refuses are left out.
 * - operationIds, component names (every kind) and security scheme names get the upstream's
 *   name in front (`users.getUser`, `users.User`), and every `$ref`, discriminator mapping,
 *   link `operationId` and security requirement is rewritten to match, at any depth.
 * - Components no kept operation reaches are left out, so an internal endpoint's schemas do not
 *   leak through the public document.
 * - Two inputs documenting the same method on the same public path (parameter names aside) are
 *   not merged: the first input's operation is kept and the pair is listed in
 *   `x-flotilla-conflicts`.
 * - Path-item parameters and the document's default `security` move into each operation;
 *   `servers` are dropped (clients call the gateway), and so are `webhooks` (not served by the
 *   gateway) and path items behind external `$ref`s.
 * - Tags are merged by name (the first description wins); only tags a kept operation uses stay.
 * - A 3.0 document's `nullable` and boolean `exclusiveMinimum`/`exclusiveMaximum` become 3.1's.
 *
 * Throws a `GatewayError` `FLT_GATEWAY_CONFIG_INVALID` for an input that is not an OpenAPI 3.x
 * document or two upstream names that would share a namespace.
 */
export function mergeOpenApi(
  inputs: readonly OpenApiMergeInput[],
  info: OpenApiMergeInfo,
  options: OpenApiMergeOptions = {},
): MergedOpenApiDocument {
  const namespaces = validate(inputs);
  const { isExposed } = options;
  const paths: Record<string, JsonObject> = {};
  const slots = new Map<string, PathSlot>();
  const conflicts: OpenApiMergeConflict[] = [];
  const components = new Map<string, MergedComponent>();
  const roots = new Set<string>();
  const tags = new Map<string, JsonObject>();
  const usedTags = new Set<string>();

  inputs.forEach((input, index) => {
    const { document, upstream, exposedAs } = input;
    const namespace = namespaces[index]!;
    const documentPaths = isJsonObject(document.paths) ? document.paths : {};
    const publicPaths = new Map<string, string>();
    for (const path of Object.keys(documentPaths)) {
      const exposed = publicPath(path, exposedAs);
      if (exposed !== undefined) publicPaths.set(path, exposed);
    }
    const ctx: NamespaceContext = {
      namespace,
      upgradeFrom30: document.openapi.startsWith("3.0."),
      schemaNames: new Set(Object.keys(document.components?.schemas ?? {})),
      paths: publicPaths,
      uses: roots,
    };

    for (const kind of componentKinds) {
      const entries = document.components?.[kind];
      if (!isJsonObject(entries)) continue;
      for (const [name, value] of Object.entries(entries)) {
        const uses = new Set<string>();
        const merged = namespaced(namespace, name);
        components.set(`${kind}/${merged}`, {
          kind,
          name: merged,
          value: namespaceValue(value, { ...ctx, uses }),
          uses,
        });
      }
    }

    for (const tag of document.tags ?? []) {
      if (isJsonObject(tag) && typeof tag.name === "string" && !tags.has(tag.name))
        tags.set(tag.name, structuredClone(tag));
    }

    for (const [path, exposed] of publicPaths) {
      const item = pathItemOf(document, documentPaths[path]);
      if (item === undefined) continue;
      const shape = pathShape(exposed);
      for (const method of httpMethods) {
        const operation = item[method];
        if (!isJsonObject(operation)) continue;
        const upper = method.toUpperCase();
        if (isExposed !== undefined && !isExposed(upper, exposed)) continue;
        let slot = slots.get(shape);
        if (slot !== undefined && (slot.path !== exposed || slot.methods.has(method))) {
          const kept = slot.methods.get(method) ?? slot.upstream;
          conflicts.push({ method: upper, path: slot.path, kept, dropped: upstream, droppedPath: exposed });
          continue;
        }
        if (slot === undefined) {
          slot = { path: exposed, upstream, methods: new Map() };
          slots.set(shape, slot);
          const head: JsonObject = {};
          if (typeof item.summary === "string") head.summary = item.summary;
          if (typeof item.description === "string") head.description = item.description;
          paths[exposed] = head;
        }
        const merged = mergedOperation(document, item, operation, ctx);
        paths[exposed]![method] = merged;
        slot.methods.set(method, upstream);
        if (Array.isArray(merged.tags))
          for (const tag of merged.tags) if (typeof tag === "string") usedTags.add(tag);
      }
    }
  });

  const keep = reachable(roots, components);
  const mergedComponents: Record<string, JsonObject> = {};
  for (const [key, component] of components) {
    if (!keep.has(key)) continue;
    mergedComponents[component.kind] ??= {};
    mergedComponents[component.kind]![component.name] = component.value;
  }
  const mergedTags = [...tags.values()].filter((tag) => usedTags.has(tag.name as string));

  return {
    openapi: "3.1.0",
    info: { ...info },
    paths,
    ...(Object.keys(mergedComponents).length > 0 ? { components: mergedComponents } : {}),
    ...(mergedTags.length > 0 ? { tags: mergedTags } : {}),
    "x-flotilla-conflicts": conflicts,
  };
}
