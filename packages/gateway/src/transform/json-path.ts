/**
 * Dotted JSON paths (`"user.address.city"`, `"items.id"`), compiled once at configuration time
 * and applied to parsed JSON per request. An array met on the way is walked element-wise:
 * `"items.id"` addresses `id` in every element of `items`, and a path applied to a top-level
 * array applies to each element. Keys containing a dot cannot be addressed.
 */
export interface JsonPath {
  /** The path as written. */
  readonly text: string;
  /** Its keys, in order; never empty. */
  readonly segments: readonly string[];
}

/** A JSON object as `JSON.parse` builds it. */
export type JsonObject = Record<string, unknown>;

// Writing through these would reach Object.prototype (prototype pollution).
const forbiddenSegments = new Set(["__proto__", "prototype", "constructor"]);

/** Why `text` is not a usable path, or `undefined` when it is. */
export function jsonPathProblem(text: string): string | undefined {
  if (text.length === 0) return 'expected a dotted path such as "user.name", got ""';
  for (const segment of text.split(".")) {
    if (segment.length === 0) return `empty key in path "${text}"`;
    if (forbiddenSegments.has(segment)) return `key "${segment}" is not allowed in path "${text}"`;
  }
  return undefined;
}

/** Compiles a dotted path; throws a `TypeError` for an empty key or a prototype key. */
export function compileJsonPath(text: string): JsonPath {
  const problem = jsonPathProblem(text);
  if (problem !== undefined) throw new TypeError(problem);
  return { text, segments: text.split(".") };
}

/** True for a plain JSON object (not an array, not `null`). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deletes the value at `path` (element-wise through arrays); a missing path is no error. */
export function removeJsonPath(root: unknown, path: JsonPath): void {
  removeAt(root, path.segments, 0);
}

function removeAt(value: unknown, segments: readonly string[], index: number): void {
  if (Array.isArray(value)) {
    for (const element of value) removeAt(element, segments, index);
    return;
  }
  if (!isJsonObject(value)) return;
  const key = segments[index]!;
  if (!Object.hasOwn(value, key)) return;
  if (index === segments.length - 1) delete value[key];
  else removeAt(value[key], segments, index + 1);
}

/**
 * Sets `value` at `path` (element-wise through arrays), creating missing or `null` intermediate
 * objects; a primitive in the way leaves that branch unchanged. Object and array constants are
 * copied per placement, so later changes to the document never reach the configured constant.
 */
export function setJsonPath(root: unknown, path: JsonPath, value: unknown): void {
  setAt(root, path.segments, 0, value);
}

function setAt(target: unknown, segments: readonly string[], index: number, value: unknown): void {
  if (Array.isArray(target)) {
    for (const element of target) setAt(element, segments, index, value);
    return;
  }
  if (!isJsonObject(target)) return;
  const key = segments[index]!;
  if (index === segments.length - 1) {
    target[key] = typeof value === "object" && value !== null ? structuredClone(value) : value;
    return;
  }
  let child = Object.hasOwn(target, key) ? target[key] : undefined;
  if (child === undefined || child === null) {
    child = {};
    target[key] = child;
  }
  setAt(child, segments, index + 1, value);
}

/**
 * Moves the value at one path to another. The paths' common leading keys are walked
 * element-wise (`"items.price"` → `"items.cost"` renames in every item); below that, arrays
 * are not entered. A missing source changes nothing; a primitive in the way of the target
 * leaves the value where it was.
 */
export class JsonRename {
  readonly #prefix: readonly string[];
  readonly #from: readonly string[];
  readonly #to: readonly string[];

  constructor(from: JsonPath, to: JsonPath) {
    const a = from.segments;
    const b = to.segments;
    let shared = 0;
    const limit = Math.min(a.length, b.length) - 1;
    while (shared < limit && a[shared] === b[shared]) shared++;
    this.#prefix = a.slice(0, shared);
    this.#from = a.slice(shared);
    this.#to = b.slice(shared);
  }

  /** Applies the rename to `root` in place. */
  apply(root: unknown): void {
    this.#visit(root, 0);
  }

  #visit(value: unknown, index: number): void {
    if (Array.isArray(value)) {
      for (const element of value) this.#visit(element, index);
      return;
    }
    if (!isJsonObject(value)) return;
    if (index === this.#prefix.length) {
      this.#move(value);
      return;
    }
    const key = this.#prefix[index]!;
    if (Object.hasOwn(value, key)) this.#visit(value[key], index + 1);
  }

  #move(context: JsonObject): void {
    const source = parentOf(context, this.#from, false);
    const sourceKey = this.#from[this.#from.length - 1]!;
    if (source === undefined || !Object.hasOwn(source, sourceKey)) return;
    const moved = source[sourceKey];
    delete source[sourceKey];
    const target = parentOf(context, this.#to, true);
    if (target === undefined) {
      source[sourceKey] = moved;
      return;
    }
    target[this.#to[this.#to.length - 1]!] = moved;
  }
}

/** The object holding the last key of `segments` below `context`, created on the way when `create`. */
function parentOf(context: JsonObject, segments: readonly string[], create: boolean): JsonObject | undefined {
  let current = context;
  for (let i = 0; i < segments.length - 1; i++) {
    const key = segments[i]!;
    let child = Object.hasOwn(current, key) ? current[key] : undefined;
    if (create && (child === undefined || child === null)) {
      child = {};
      current[key] = child;
    }
    if (!isJsonObject(child)) return undefined;
    current = child;
  }
  return current;
}
