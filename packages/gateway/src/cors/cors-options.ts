import { durationSchema } from "@flotilla/registry";
import { z } from "zod";
import { headerNameSchema, methodSchema } from "../transform/option-schemas.js";
import { originPatternProblem } from "./origin-matcher.js";

const originPattern = z.string().superRefine((pattern, ctx) => {
  const problem = originPatternProblem(pattern);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

/**
 * The options of the CORS layer (zod 4), after the Fetch standard's CORS protocol
 * (https://fetch.spec.whatwg.org/#http-cors-protocol).
 */
export const corsOptionsSchema = z
  .strictObject({
    /** `"*"`, or exact origins and `https://*.example.com` patterns. */
    origins: z.union([z.literal("*"), z.array(originPattern).min(1)]),
    /** Methods a preflight may ask for; `"*"` allows any. */
    methods: z
      .union([z.literal("*"), z.array(methodSchema).min(1)])
      .prefault(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
    /** Request headers a preflight may ask for (case-insensitive); `"*"` allows any. */
    allowHeaders: z
      .union([z.literal("*"), z.array(headerNameSchema)])
      .prefault(["accept", "authorization", "content-type", "x-request-id"]),
    /** Response headers the browser may show to the page; `"*"` (without credentials) exposes all. */
    exposeHeaders: z.union([z.literal("*"), z.array(headerNameSchema)]).prefault([]),
    /** Allow cookies and HTTP authentication; the allowed origin is then echoed, never `*`. */
    credentials: z.boolean().prefault(false),
    /** How long browsers may cache a preflight's answer (`"10m"`, milliseconds); sent in whole seconds. */
    maxAge: durationSchema.optional(),
  })
  .refine((o) => !(o.credentials && o.exposeHeaders === "*"), {
    error: 'exposeHeaders "*" is not a wildcard for requests with credentials; list the headers',
    path: ["exposeHeaders"],
  });

/** What {@link corsOptionsSchema} accepts. */
export type CorsOptions = z.input<typeof corsOptionsSchema>;
/** {@link CorsOptions} resolved: defaults applied, methods upper-cased, header names lower-cased, `maxAge` in ms. */
export type CorsConfig = z.output<typeof corsOptionsSchema>;
