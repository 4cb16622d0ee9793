import { z } from "zod";
import {
  compileJsonPath,
  type JsonPath,
  JsonRename,
  jsonPathProblem,
  removeJsonPath,
  setJsonPath,
} from "./json-path.js";

/** A dotted JSON path in configuration (`"user.address.city"`). */
export const jsonPathSchema = z.string().superRefine((text, ctx) => {
  const problem = jsonPathProblem(text);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

/** Field mapping of a JSON body: renames first, then removals, then constants. */
export const jsonBodyMappingSchema = z.strictObject({
  /** `{ "from.path": "to.path" }`: moves a value. */
  rename: z.record(jsonPathSchema, jsonPathSchema).prefault({}),
  /** Paths to delete. */
  remove: z.array(jsonPathSchema).prefault([]),
  /** `{ "path": constant }`: sets a JSON constant, creating missing objects on the way. */
  set: z.record(jsonPathSchema, z.json()).prefault({}),
});

/** What {@link jsonBodyMappingSchema} accepts. */
export type JsonBodyMappingOptions = z.input<typeof jsonBodyMappingSchema>;
/** {@link JsonBodyMappingOptions} resolved. */
export type JsonBodyMappingConfig = z.output<typeof jsonBodyMappingSchema>;

/** A compiled {@link JsonBodyMappingConfig}: paths compiled once, applied to parsed JSON in place. */
export class JsonBodyMapping {
  readonly #renames: readonly JsonRename[];
  readonly #removals: readonly JsonPath[];
  readonly #sets: readonly (readonly [JsonPath, unknown])[];

  constructor(config: JsonBodyMappingConfig) {
    this.#renames = Object.entries(config.rename).map(
      ([from, to]) => new JsonRename(compileJsonPath(from), compileJsonPath(to)),
    );
    this.#removals = config.remove.map(compileJsonPath);
    this.#sets = Object.entries(config.set).map(
      ([path, value]) => [compileJsonPath(path), structuredClone(value)] as const,
    );
  }

  /** True when the mapping changes nothing. */
  get empty(): boolean {
    return this.#renames.length === 0 && this.#removals.length === 0 && this.#sets.length === 0;
  }

  /** Applies renames, removals and constants to `document` in place. */
  apply(document: unknown): void {
    for (const rename of this.#renames) rename.apply(document);
    for (const path of this.#removals) removeJsonPath(document, path);
    for (const [path, value] of this.#sets) setJsonPath(document, path, value);
  }
}
