import { normalizePath } from "./normalize-path.js";

/** One segment of a parsed template: a literal to compare, or a parameter to capture. */
export type TemplateSegment = { readonly literal: string } | { readonly param: string };

/** A route path template (`/users/:id/files/*`) taken apart. */
export interface PathTemplate {
  /** The segments after the leading `/`, without a trailing `*`. */
  readonly segments: readonly TemplateSegment[];
  /** True when the template ends in `/*`. */
  readonly rest: boolean;
  readonly literalCount: number;
}

const paramName = /^[A-Za-z_][A-Za-z0-9_]*$/;

// Lenient on purpose: a configured path may match encoded slashes if the server lets them through.
const permissive = { allowEncodedSlash: true, allowDoubleEncoding: true, mergeSlashes: true } as const;

/**
 * Checks that a configured path is already in the form `normalizePath` produces (so it can
 * ever match) and returns `undefined`, or says what is wrong.
 */
export function checkConfiguredPath(path: string): string | undefined {
  if (path.charCodeAt(0) !== 0x2f) return `"${path}" must start with "/"`;
  if (path.includes("?")) return `"${path}" must not contain "?"`;
  const normalized = normalizePath(path, permissive);
  if (!normalized.ok) return `"${path}" is not a valid path (${normalized.reason})`;
  if (normalized.path !== path) return `"${path}" is not normalized; write "${normalized.path}"`;
  return undefined;
}

/**
 * Parses a route template. `:name` (letters, digits, `_`, not starting with a digit) captures
 * one segment; `*` as the last segment captures the rest. Throws an `Error` saying what is
 * wrong; the router wraps it into a configuration error naming the route.
 */
export function parsePathTemplate(template: string): PathTemplate {
  const parts = template.split("/");
  if (parts[0] !== "") throw new Error(`"${template}" must start with "/"`);
  const segments: TemplateSegment[] = [];
  const names = new Set<string>();
  let rest = false;
  let literalCount = 0;
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === "*") {
      if (i !== parts.length - 1) throw new Error(`"${template}": "*" is only allowed as the last segment`);
      rest = true;
    } else if (part.startsWith(":")) {
      const name = part.slice(1);
      if (!paramName.test(name)) throw new Error(`"${template}": bad parameter name "${part}"`);
      if (names.has(name)) throw new Error(`"${template}": parameter ":${name}" appears twice`);
      names.add(name);
      segments.push({ param: name });
    } else {
      if (part.includes("*")) throw new Error(`"${template}": "*" is only allowed as a whole last segment`);
      if (part === "" && i !== parts.length - 1) throw new Error(`"${template}" has an empty segment ("//")`);
      if (part === "." || part === "..") throw new Error(`"${template}" has a dot segment "${part}"`);
      const problem = part === "" ? undefined : checkConfiguredPath(`/${part}`);
      if (problem !== undefined) throw new Error(`"${template}": segment ${problem}`);
      segments.push({ literal: part });
      literalCount++;
    }
  }
  return { segments, rest, literalCount };
}
