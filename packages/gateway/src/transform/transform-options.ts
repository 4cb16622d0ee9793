import { z } from "zod";
import { isFramingHeader } from "../proxy/hop-by-hop.js";
import { jsonBodyMappingSchema } from "./json-body-mapping.js";
import { headerNameSchema, headerValueSchema } from "./option-schemas.js";

const editableHeaderName = headerNameSchema.refine((name) => !isFramingHeader(name), {
  error: "framing and hop-by-hop headers cannot be transformed",
});

// The identity and deadline headers are the gateway's own: a transform may not forge them.
const requestHeaderName = editableHeaderName.refine((name) => !name.toLowerCase().startsWith("x-flotilla-"), {
  error: "x-flotilla-* headers are set by the gateway (identity, deadline) and cannot be transformed",
});

/** The options of the transform layer (zod 4). Header names are matched case-insensitively. */
export const transformOptionsSchema = z.strictObject({
  /** Changes to the request sent upstream. */
  requestHeaders: z
    .strictObject({
      /** Replace (or, with `null`, remove) these headers. */
      set: z.record(requestHeaderName, z.union([headerValueSchema, z.null()])).prefault({}),
      /** Append these values to what the client (or an earlier layer) sent, comma-separated. */
      add: z.record(requestHeaderName, headerValueSchema).prefault({}),
      /** Remove these headers. */
      remove: z.array(requestHeaderName).prefault([]),
    })
    .optional(),
  /** Changes to the response sent to the client. */
  responseHeaders: z
    .strictObject({
      /** Replace these headers. */
      set: z.record(editableHeaderName, headerValueSchema).prefault({}),
      /** Remove these upstream headers; this needs the response buffered. */
      remove: z.array(editableHeaderName).prefault([]),
    })
    .optional(),
  /** Field mapping of JSON request bodies (read whole, up to `maxBodyBytes`). */
  requestBody: jsonBodyMappingSchema.optional(),
  /** Field mapping of JSON 2xx response bodies (buffered). */
  responseBody: jsonBodyMappingSchema.optional(),
  /** The largest request body read for `requestBody` mapping; larger ones get 413. Default 1 MiB. */
  maxBodyBytes: z
    .number()
    .int()
    .positive()
    .prefault(1024 * 1024),
});

/** What {@link transformOptionsSchema} accepts. */
export type TransformOptions = z.input<typeof transformOptionsSchema>;
/** {@link TransformOptions} resolved: defaults applied, header names lower-cased. */
export type TransformConfig = z.output<typeof transformOptionsSchema>;
