import { z } from "zod";

/** Options of {@link normalizePath}; parse raw configuration with {@link normalizePathOptionsSchema}. */
export const normalizePathOptionsSchema = z
  .object({
    /** Accept `%2F` and `%5C` (kept encoded, never a segment separator). Default `false`. */
    allowEncodedSlash: z.boolean().default(false),
    /** Accept `%25` followed by two hex digits (`%252e`). Default `false`. */
    allowDoubleEncoding: z.boolean().default(false),
    /** Merge runs of `/` into one (`//a///b` → `/a/b`). Default `true`. */
    mergeSlashes: z.boolean().default(true),
  })
  .strict();

/** Resolved options of {@link normalizePath}. */
export type NormalizePathOptions = z.output<typeof normalizePathOptionsSchema>;

/** The defaults: encoded slashes and double encoding rejected, duplicate slashes merged. */
export const defaultNormalizePathOptions: NormalizePathOptions = Object.freeze({
  allowEncodedSlash: false,
  allowDoubleEncoding: false,
  mergeSlashes: true,
});

/** An accepted request target, split and normalized. */
export interface NormalizedTarget {
  readonly ok: true;
  /**
   * The normalized path: starts with `/`, dot segments resolved, unreserved characters decoded,
   * every other `%XX` upper-case, characters RFC 3986 does not allow in a path percent-encoded.
   */
  readonly path: string;
  /** The query as received, including its `?`, or `""`. */
  readonly query: string;
}

/** A refused request target; the server logs `reason` and answers 400. */
export interface PathRejection {
  readonly ok: false;
  /** Short and stable (`"encoded slash"`, `"path climbs above root"`); never echoes the target. */
  readonly reason: string;
}

// Character classes of the ASCII range (non-ASCII is its own class).
const SAFE = 0; // unreserved except ".", sub-delims, ":" and "@": pchar as is
const SLASH = 1;
const DOT = 2;
const PERCENT = 3;
const QUERY = 4;
const ENCODE = 5; // printable, not allowed in a path by RFC 3986 but harmless: percent-encoded
const CONTROL = 6;
const SPACE = 7;
const BACKSLASH = 8;
const FRAGMENT = 9;
const NON_ASCII = 10;

const charClass = new Uint8Array(128).fill(SAFE);
for (let c = 0; c < 0x20; c++) charClass[c] = CONTROL;
charClass[0x7f] = CONTROL;
charClass[0x20] = SPACE;
charClass[0x2f] = SLASH;
charClass[0x2e] = DOT;
charClass[0x25] = PERCENT;
charClass[0x3f] = QUERY;
charClass[0x5c] = BACKSLASH;
charClass[0x23] = FRAGMENT;
for (const c of '"<>[]^`{|}') charClass[c.charCodeAt(0)] = ENCODE;

// https://www.rfc-editor.org/rfc/rfc3986#section-2.3 unreserved.
const unreserved = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
  unreserved[c.charCodeAt(0)] = 1;

const hexValue = new Int8Array(128).fill(-1);
for (let d = 0; d < 16; d++) {
  hexValue["0123456789ABCDEF".charCodeAt(d)] = d;
  hexValue["0123456789abcdef".charCodeAt(d)] = d;
}
const HEX = "0123456789ABCDEF";

function rejection(reason: string): PathRejection {
  return Object.freeze({ ok: false, reason });
}

// Shared frozen rejections: refusing a request allocates nothing.
const rejectEmpty = rejection("empty target");
const rejectNotOriginForm = rejection("not origin-form");
const rejectControl = rejection("control character");
const rejectSpace = rejection("space");
const rejectBackslash = rejection("backslash");
const rejectFragment = rejection("fragment");
const rejectNonAscii = rejection("non-ASCII byte");
const rejectMalformedPercent = rejection("malformed percent-encoding");
const rejectEncodedSlash = rejection("encoded slash");
const rejectEncodedBackslash = rejection("encoded backslash");
const rejectEncodedNul = rejection("encoded NUL");
const rejectDoubleEncoding = rejection("double encoding");
const rejectAboveRoot = rejection("path climbs above root");

const classRejections: readonly (PathRejection | undefined)[] = (() => {
  const table: (PathRejection | undefined)[] = [];
  table[CONTROL] = rejectControl;
  table[SPACE] = rejectSpace;
  table[BACKSLASH] = rejectBackslash;
  table[FRAGMENT] = rejectFragment;
  table[NON_ASCII] = rejectNonAscii;
  return table;
})();

const doubleEncoded = /%25[0-9A-Fa-f]{2}/;

/**
 * Splits an HTTP request target into path and query and normalizes the path
 * (RFC 3986 §6.2.2 and §5.2.4), or refuses it.
 *
 * Only origin-form (`/path?query`) is accepted. Refused: control characters, space, non-ASCII
 * bytes, `\`, `#`, malformed percent-encoding (`%zz`, `%4`), `%00`, `%2F` and `%5C` (unless
 * `allowEncodedSlash`), `%25` followed by two hex digits (unless `allowDoubleEncoding`), and a
 * `..` that would climb above the root. Normalized: percent-encoded unreserved characters are
 * decoded (`%41` → `A`, `%2e` → `.` which then counts as a dot segment), other `%xx` upper-cased,
 * `"<>[]^\`{|}` percent-encoded, dot segments resolved, `//` merged (unless `mergeSlashes` is
 * off). The query is kept raw, only checked for control characters, space, non-ASCII and `#`.
 * Normalizing a normalized path with the same options gives it back unchanged.
 *
 * Cost: one pass over the target. A path of only safe characters with no `%`, `/.` or `//`
 * (nearly every real request) returns after that pass with no allocation beyond the split
 * and the result object; anything else takes a second, allocating pass. Never throws.
 */
export function normalizePath(
  target: string,
  options: NormalizePathOptions = defaultNormalizePathOptions,
): NormalizedTarget | PathRejection {
  const length = target.length;
  if (length === 0) return rejectEmpty;
  if (target.charCodeAt(0) !== 0x2f) return rejectNotOriginForm;
  let i = 1;
  for (; i < length; i++) {
    const c = target.charCodeAt(i);
    const cls = c < 128 ? charClass[c]! : NON_ASCII;
    if (cls === SAFE) continue;
    if (cls === SLASH || cls === DOT) {
      if (target.charCodeAt(i - 1) === 0x2f) return normalizeSlow(target, options);
    } else if (cls === QUERY) {
      break;
    } else {
      return normalizeSlow(target, options);
    }
  }
  if (i === length) return { ok: true, path: target, query: "" };
  const bad = checkQuery(target, i + 1);
  if (bad !== undefined) return bad;
  return { ok: true, path: target.slice(0, i), query: target.slice(i) };
}

function checkQuery(target: string, from: number): PathRejection | undefined {
  for (let i = from; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c >= 128) return rejectNonAscii;
    const cls = charClass[c]!;
    // The query goes upstream raw; a backslash there cannot change the path.
    if (cls >= CONTROL && cls !== BACKSLASH) return classRejections[cls];
  }
  return undefined;
}

function normalizeSlow(target: string, options: NormalizePathOptions): NormalizedTarget | PathRejection {
  const length = target.length;
  const segments: string[] = [];
  let segment = "";
  let runStart = 1;
  let sawPercent25 = false;
  let i = 1;
  for (; ; i++) {
    const c = i < length ? target.charCodeAt(i) : 0x3f;
    const cls = c < 128 ? charClass[c]! : NON_ASCII;
    if (cls === SAFE || cls === DOT) continue;
    if (cls === SLASH || cls === QUERY) {
      segment += target.slice(runStart, i);
      const last = cls === QUERY;
      if (segment === "." || (segment === "" && !last && options.mergeSlashes)) {
        if (last) segments.push("");
      } else if (segment === "..") {
        if (segments.length === 0) return rejectAboveRoot;
        segments.pop();
        if (last) segments.push("");
      } else {
        segments.push(segment);
      }
      segment = "";
      runStart = i + 1;
      if (last) break;
    } else if (cls === PERCENT) {
      const hi = i + 1 < length ? hexOf(target.charCodeAt(i + 1)) : -1;
      const lo = i + 2 < length ? hexOf(target.charCodeAt(i + 2)) : -1;
      if (hi < 0 || lo < 0) return rejectMalformedPercent;
      const byte = (hi << 4) | lo;
      let replacement: string;
      if (byte < 128 && unreserved[byte] === 1) {
        replacement = String.fromCharCode(byte);
      } else if (byte === 0x2f || byte === 0x5c) {
        if (!options.allowEncodedSlash) return byte === 0x2f ? rejectEncodedSlash : rejectEncodedBackslash;
        replacement = byte === 0x2f ? "%2F" : "%5C";
      } else if (byte === 0) {
        return rejectEncodedNul;
      } else {
        if (byte === 0x25) sawPercent25 = true;
        replacement = `%${HEX[hi]}${HEX[lo]}`;
      }
      segment += target.slice(runStart, i) + replacement;
      i += 2;
      runStart = i + 1;
    } else if (cls === ENCODE) {
      segment += `${target.slice(runStart, i)}%${HEX[c >> 4]}${HEX[c & 15]}`;
      runStart = i + 1;
    } else {
      return classRejections[cls]!;
    }
  }
  const path = `/${segments.join("/")}`;
  // Checked on the output: `%25%34%31` only becomes `%2541` once `%34%31` is decoded.
  if (sawPercent25 && !options.allowDoubleEncoding && doubleEncoded.test(path)) return rejectDoubleEncoding;
  if (i >= length) return { ok: true, path, query: "" };
  const bad = checkQuery(target, i + 1);
  if (bad !== undefined) return bad;
  return { ok: true, path, query: target.slice(i) };
}

function hexOf(c: number): number {
  return c < 128 ? hexValue[c]! : -1;
}
