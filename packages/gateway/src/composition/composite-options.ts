import { durationSchema } from "@flotilla/registry";
import { z } from "zod";
import { isFramingHeader } from "../proxy/hop-by-hop.js";
import { headerNameSchema, methodSchema } from "../transform/option-schemas.js";
import { pathTemplateProblem } from "./path-template.js";

const pathTemplate = z.string().superRefine((text, ctx) => {
  const problem = pathTemplateProblem(text);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

/** One upstream call of a composite endpoint (zod 4). */
export const compositePartSchema = z.strictObject({
  /** The key of its result in the merged body. */
  name: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, { error: "expected a letter, then up to 63 of A-Z a-z 0-9 _ -" }),
  /** The upstream's name in the gateway configuration. */
  upstream: z.string().min(1),
  method: methodSchema.prefault("GET"),
  /** `"/users/{userId}/orders?limit={query.limit}"`: route parameters and `query.` parameters. */
  path: pathTemplate,
  /** This part's timeout; default (and at most) the endpoint's deadline. */
  timeout: durationSchema.optional(),
  /** When it fails, the whole endpoint fails (502, or 504 on a timeout). */
  required: z.boolean().prefault(false),
  /** The value it takes when it fails and is not required; default `null`. */
  fallback: z.json().optional(),
  /** Client request headers to pass on (`accept-language`). */
  forwardHeaders: z
    .array(
      headerNameSchema.refine((name) => !(isFramingHeader(name) || name === "host"), {
        error: "this header cannot be forwarded",
      }),
    )
    .prefault([]),
});

/** The options of a composite endpoint (zod 4). */
export const compositeOptionsSchema = z
  .strictObject({
    /** Called in parallel; at most 32. */
    parts: z.array(compositePartSchema).min(1).max(32),
    /** The time the whole endpoint may take. */
    deadline: durationSchema,
    /** How results are merged: one key per part name. */
    merge: z.literal("object").prefault("object"),
  })
  .superRefine((options, ctx) => {
    const seen = new Set<string>();
    options.parts.forEach((part, index) => {
      if (seen.has(part.name)) {
        ctx.addIssue({
          code: "custom",
          message: `duplicate part name "${part.name}"`,
          path: ["parts", index, "name"],
        });
      }
      seen.add(part.name);
    });
  });

/** What {@link compositeOptionsSchema} accepts. */
export type CompositeOptions = z.input<typeof compositeOptionsSchema>;
/** {@link CompositeOptions} resolved: durations in milliseconds, defaults applied. */
export type CompositeConfig = z.output<typeof compositeOptionsSchema>;
/** One resolved part. */
export type CompositePartConfig = CompositeConfig["parts"][number];
