/** A JSON object, as OpenAPI documents are made of. */
export type JsonObject = { [key: string]: unknown };

/**
 * An OpenAPI 3.x document (https://spec.openapis.org/oas/v3.1.0), typed only as far as the
 * merge reads it; everything else passes through as JSON.
 */
export interface OpenApiDocument {
  /** `3.0.x` or `3.1.x`. */
  readonly openapi: string;
  readonly info: { readonly title: string; readonly version: string; readonly [key: string]: unknown };
  readonly paths?: Readonly<Record<string, unknown>>;
  readonly components?: Readonly<Record<string, Readonly<Record<string, unknown>> | undefined>>;
  readonly tags?: readonly JsonObject[];
  readonly security?: readonly Readonly<Record<string, readonly string[]>>[];
  readonly [key: string]: unknown;
}

/** True for a non-null, non-array object. */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
