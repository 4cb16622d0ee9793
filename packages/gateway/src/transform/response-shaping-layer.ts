import { z } from "zod";
import type { Exchange } from "../chain/exchange.js";
import type { GatewayResponse } from "../chain/gateway-response.js";
import type { Layer, Next } from "../chain/layer.js";
import {
  compileFieldTree,
  type FieldTree,
  intersectFieldTrees,
  parseFieldList,
  pickFields,
} from "./field-selection.js";
import { jsonPathSchema } from "./json-body-mapping.js";
import { compileJsonPath, type JsonPath, removeJsonPath } from "./json-path.js";
import { parseLayerOptions } from "./option-schemas.js";
import { rewriteJsonResponse } from "./rewrite-json-response.js";

/** The options of the response shaping layer (zod 4). */
export const responseShapingOptionsSchema = z
  .strictObject({
    /** Keep only these fields (dotted paths, element-wise through arrays: `"items.id"`). */
    fields: z.array(jsonPathSchema).min(1).optional(),
    /** Remove these fields; applied after `fields`. */
    omit: z.array(jsonPathSchema).min(1).optional(),
    /** A query parameter (`fields`) through which the client narrows the response further, never wider. */
    queryParameter: z.string().min(1).optional(),
    /** The most paths a client may name in `queryParameter`; the rest are ignored. */
    maxRequestedFields: z.number().int().positive().prefault(64),
  })
  .refine((o) => o.fields !== undefined || o.omit !== undefined || o.queryParameter !== undefined, {
    error: "expected at least one of fields, omit, queryParameter",
  });

/** What {@link responseShapingOptionsSchema} accepts. */
export type ResponseShapingOptions = z.input<typeof responseShapingOptionsSchema>;
/** {@link ResponseShapingOptions} resolved. */
export type ResponseShapingConfig = z.output<typeof responseShapingOptionsSchema>;

// Client field lists repeat; parsing and narrowing each distinct one once is enough.
const narrowedCacheSize = 256;

interface Shape {
  readonly fields: FieldTree | undefined;
  readonly omit: readonly JsonPath[];
}

/**
 * A backend-for-frontend layer that shapes JSON 2xx responses: keeps only `fields`, removes
 * `omit`, and with `queryParameter` lets the client ask for a subset (`?fields=id,items.name`)
 * of what `fields` allows. Other responses pass unchanged. Throws `FLT_GATEWAY_CONFIG_INVALID`
 * for invalid options.
 *
 * @example
 * responseShapingLayer({ fields: ["id", "name", "items.id"], queryParameter: "fields" });
 */
export function responseShapingLayer(options: ResponseShapingOptions): ResponseShapingLayer {
  return new ResponseShapingLayer(
    parseLayerOptions(responseShapingOptionsSchema, options, "responseShaping"),
  );
}

/** See {@link responseShapingLayer}. */
export class ResponseShapingLayer implements Layer {
  readonly name = "response-shaping";
  readonly #shape: Shape;
  readonly #queryParameter: string | undefined;
  readonly #maxRequestedFields: number;
  readonly #narrowed = new Map<string, Shape>();

  constructor(config: ResponseShapingConfig) {
    const fields =
      config.fields === undefined ? undefined : compileFieldTree(config.fields.map(compileJsonPath));
    this.#shape = { fields, omit: (config.omit ?? []).map(compileJsonPath) };
    this.#queryParameter = config.queryParameter;
    this.#maxRequestedFields = config.maxRequestedFields;
  }

  async handle(exchange: Exchange, next: Next): Promise<GatewayResponse> {
    const shape = this.#shapeFor(exchange.query);
    exchange.bufferResponse = true;
    // The body must arrive uncompressed to be shaped.
    exchange.upstreamHeaders["accept-encoding"] = "identity";
    return rewriteJsonResponse(await next(), applyShape, shape);
  }

  #shapeFor(query: string): Shape {
    if (this.#queryParameter === undefined || query.length < 2) return this.#shape;
    const requested = new URLSearchParams(query).getAll(this.#queryParameter).join(",");
    if (requested.trim() === "") return this.#shape;
    let shape = this.#narrowed.get(requested);
    if (shape === undefined) {
      const tree = parseFieldList(requested, this.#maxRequestedFields);
      const allowed = this.#shape.fields;
      shape = {
        fields: allowed === undefined ? tree : intersectFieldTrees(allowed, tree),
        omit: this.#shape.omit,
      };
      if (this.#narrowed.size >= narrowedCacheSize) this.#narrowed.clear();
      this.#narrowed.set(requested, shape);
    }
    return shape;
  }
}

function applyShape(document: unknown, shape: Shape): unknown {
  const shaped = shape.fields === undefined ? document : pickFields(document, shape.fields);
  for (const path of shape.omit) removeJsonPath(shaped, path);
  return shaped;
}
