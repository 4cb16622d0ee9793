import { GatewayErrorCode } from "../chain/gateway-error.js";
import type { GatewayLogger } from "../chain/gateway-logger.js";
import type { GatewayResponse } from "../chain/gateway-response.js";
import type { Layer } from "../chain/layer.js";
import { problemResponse } from "../chain/problem-response.js";
import type { UpstreamCaller } from "../chain/upstream-caller.js";
import { mergeOpenApi, type OpenApiMergeInput } from "./merge-openapi.js";
import { isJsonObject, type OpenApiDocument } from "./openapi-document.js";
import type { ExposedAs } from "./public-path.js";

/** One upstream whose OpenAPI document goes into the gateway's. */
export interface OpenApiSource {
  readonly upstream: string;
  /** Where the upstream serves its document. */
  readonly documentPath: string;
  readonly exposedAs: ExposedAs;
}

/** What {@link openApiEndpoint} needs. */
export interface OpenApiEndpointOptions {
  readonly title: string;
  readonly version: string;
  readonly sources: readonly OpenApiSource[];
  /** How long a merged document is served before the upstreams are asked again. */
  readonly refreshMs: number;
  /** Time allowed to fetch one upstream's document. */
  readonly timeoutMs: number;
  /** Whether the gateway routes `method` to `publicPath` (an OpenAPI path template). */
  readonly isExposed: (method: string, publicPath: string) => boolean;
  readonly caller: UpstreamCaller;
  readonly logger: GatewayLogger;
}

/**
 * Serves one OpenAPI document of every public route: the upstreams' own documents (what
 * `@flotilla/service` publishes at `/openapi.json`), fetched through the gateway's pools, merged
 * with their public paths and only the operations the routes expose, and kept for `refreshMs`.
 * An upstream that cannot be reached is left out and named in `x-flotilla-missing` rather than
 * failing the whole document.
 */
export function openApiEndpoint(options: OpenApiEndpointOptions): Layer {
  let cached: { body: Buffer; until: number } | undefined;
  let building: Promise<Buffer> | undefined;
  const build = async (): Promise<Buffer> => {
    const missing: string[] = [];
    const inputs: OpenApiMergeInput[] = [];
    await Promise.all(
      options.sources.map(async (source) => {
        try {
          const reply = await options.caller.call({
            upstream: source.upstream,
            method: "GET",
            path: source.documentPath,
            headers: { accept: "application/json" },
            signal: AbortSignal.timeout(options.timeoutMs),
          });
          const document: unknown =
            reply.status === 200 ? JSON.parse(reply.body.toString("utf8")) : undefined;
          if (!isJsonObject(document)) throw new Error(`status ${reply.status}`);
          inputs.push({
            upstream: source.upstream,
            document: document as OpenApiDocument,
            exposedAs: source.exposedAs,
          });
        } catch (error) {
          missing.push(source.upstream);
          options.logger.warn(
            { err: error, upstream: source.upstream },
            "could not fetch an upstream's OpenAPI document",
          );
        }
      }),
    );
    // Keep the configured order: the first source wins a conflict.
    inputs.sort(
      (a, b) =>
        options.sources.findIndex((s) => s.upstream === a.upstream) -
        options.sources.findIndex((s) => s.upstream === b.upstream),
    );
    const merged = mergeOpenApi(
      inputs,
      { title: options.title, version: options.version },
      { isExposed: options.isExposed },
    );
    return Buffer.from(
      JSON.stringify(missing.length === 0 ? merged : { ...merged, "x-flotilla-missing": missing }),
    );
  };
  return {
    name: "openapi",
    async handle(exchange): Promise<GatewayResponse> {
      if (exchange.method !== "GET" && exchange.method !== "HEAD") {
        return problemResponse(405, GatewayErrorCode.MethodNotAllowed, "Method Not Allowed", "use GET", {
          allow: "GET, HEAD",
        });
      }
      const now = performance.now();
      if (cached === undefined || cached.until <= now) {
        building ??= build().finally(() => {
          building = undefined;
        });
        try {
          const body = await building;
          cached = { body, until: performance.now() + options.refreshMs };
        } catch (error) {
          options.logger.error({ err: error }, "merging the OpenAPI documents failed");
          if (cached === undefined) {
            return problemResponse(
              502,
              GatewayErrorCode.BadGateway,
              "Bad Gateway",
              "the API description is unavailable",
            );
          }
        }
      }
      return {
        status: 200,
        headers: { "content-type": "application/json", "cache-control": "no-cache" },
        body: cached!.body,
        streamed: false,
      };
    },
  };
}
