import {
  compileJsonPath,
  isJsonObject,
  type JsonObject,
  type JsonPath,
  jsonPathProblem,
} from "./json-path.js";

/**
 * A set of dotted paths as a tree: each key maps to `true` (keep the whole value) or to the
 * fields to keep below it. `["id", "items.id", "items.name"]` is `{ id: true, items: { id, name } }`.
 */
export type FieldTree = ReadonlyMap<string, FieldTree | true>;

/** Builds the tree of `paths`; a path covers everything below it (`"user"` wins over `"user.name"`). */
export function compileFieldTree(paths: Iterable<JsonPath>): FieldTree {
  const root = new Map<string, Map<string, unknown> | true>();
  for (const path of paths) {
    let node = root;
    const segments = path.segments;
    for (let i = 0; i < segments.length; i++) {
      const key = segments[i]!;
      const existing = node.get(key);
      if (existing === true) break;
      if (i === segments.length - 1) {
        node.set(key, true);
        break;
      }
      let child = existing as typeof root | undefined;
      if (child === undefined) {
        child = new Map();
        node.set(key, child);
      }
      node = child;
    }
  }
  return root as FieldTree;
}

/**
 * Parses a client's field list (`"id,items.name"`), at most `maxFields` entries; entries that
 * are not valid paths are ignored, so a client cannot address prototype keys.
 */
export function parseFieldList(text: string, maxFields: number): FieldTree {
  const paths: JsonPath[] = [];
  for (const entry of text.split(",")) {
    if (paths.length === maxFields) break;
    const trimmed = entry.trim();
    if (jsonPathProblem(trimmed) === undefined) paths.push(compileJsonPath(trimmed));
  }
  return compileFieldTree(paths);
}

/** The fields both trees select: a client's request narrowed to what configuration allows. */
export function intersectFieldTrees(allowed: FieldTree, requested: FieldTree): FieldTree {
  const result = new Map<string, FieldTree | true>();
  for (const [key, wanted] of requested) {
    const permitted = allowed.get(key);
    if (permitted === undefined) continue;
    if (permitted === true) result.set(key, wanted);
    else if (wanted === true) result.set(key, permitted);
    else {
      const below = intersectFieldTrees(permitted, wanted);
      if (below.size > 0) result.set(key, below);
    }
  }
  return result;
}

/**
 * A copy of `document` with only the fields of `tree`, element-wise through arrays. Below a
 * field that selects subfields, strings, numbers and booleans (which have no fields) are
 * dropped: from an object the key goes, from an array the element; `null` stays. A primitive
 * document comes back as it is.
 */
export function pickFields(document: unknown, tree: FieldTree): unknown {
  if (!Array.isArray(document) && !isJsonObject(document)) return document;
  return pickFrom(document, tree);
}

function pickFrom(value: unknown, tree: FieldTree): unknown {
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const element of value) {
      const picked = pickFrom(element, tree);
      if (picked !== undefined) out.push(picked);
    }
    return out;
  }
  if (value === null) return null;
  if (!isJsonObject(value)) return undefined;
  const out: JsonObject = {};
  for (const [key, below] of tree) {
    if (!Object.hasOwn(value, key)) continue;
    const field = value[key];
    if (below === true) out[key] = field;
    else {
      const picked = pickFrom(field, below);
      if (picked !== undefined) out[key] = picked;
    }
  }
  return out;
}
