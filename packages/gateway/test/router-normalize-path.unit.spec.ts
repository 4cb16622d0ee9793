import { describe, expect, it } from "vitest";
import {
  defaultNormalizePathOptions,
  normalizePath,
  normalizePathOptionsSchema,
} from "../src/router/normalize-path.js";

const accepted: [target: string, path: string, query: string][] = [
  ["/", "/", ""],
  ["/users/42", "/users/42", ""],
  ["/users/42?x=1&y=%zz", "/users/42", "?x=1&y=%zz"],
  ["/a?", "/a", "?"],
  ["/a?b?c/../d", "/a", "?b?c/../d"],
  ["/a/../b", "/b", ""],
  ["/a/./b", "/a/b", ""],
  ["/a/%2e%2e/b", "/b", ""],
  ["/a/%2E%2E/b", "/b", ""],
  ["/a/.%2e/b", "/b", ""],
  ["/a/%2e/b", "/a/b", ""],
  ["/a/b/..", "/a/", ""],
  ["/a/b/.", "/a/b/", ""],
  ["/a/..", "/", ""],
  ["/.well-known/x", "/.well-known/x", ""],
  ["/a/...", "/a/...", ""],
  ["/a/..b/c", "/a/..b/c", ""],
  ["/%41", "/A", ""],
  ["/%7e%2D%5f%2E", "/~-_.", ""],
  ["/caf%c3%a9", "/caf%C3%A9", ""],
  ["/a%20b", "/a%20b", ""],
  ["/%25", "/%25", ""],
  ["/%25zz", "/%25zz", ""],
  ["/%25/41", "/%25/41", ""],
  ["//a///b", "/a/b", ""],
  ["/a//", "/a/", ""],
  ["//", "/", ""],
  ["/a//../b", "/b", ""],
  ["/a/b//c/", "/a/b/c/", ""],
  ['/a"b', "/a%22b", ""],
  ["/{x}|[y]^`<>", "/%7Bx%7D%7C%5By%5D%5E%60%3C%3E", ""],
  ["/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;=", ""],
  ['/a?%%%\\"', "/a", '?%%%\\"'],
];

const rejected: [target: string, reason: string][] = [
  ["", "empty target"],
  ["*", "not origin-form"],
  ["http://example.com/a", "not origin-form"],
  ["example.com:443", "not origin-form"],
  ["a/b", "not origin-form"],
  ["?a", "not origin-form"],
  ["/a/../../etc/passwd", "path climbs above root"],
  ["/..", "path climbs above root"],
  ["/%2e%2e/x", "path climbs above root"],
  ["/.%2E/x", "path climbs above root"],
  ["/a/%2e%2e/%2e%2e/x", "path climbs above root"],
  ["/%252e%252e/x", "double encoding"],
  ["/%2541", "double encoding"],
  ["/%25ab", "double encoding"],
  ["/%25%34%31", "double encoding"],
  ["/a%2Fb", "encoded slash"],
  ["/a%2fb", "encoded slash"],
  ["/a%5Cb", "encoded backslash"],
  ["/a%5cb", "encoded backslash"],
  ["/a\\b", "backslash"],
  ["/a%00b", "encoded NUL"],
  ["/a%zz", "malformed percent-encoding"],
  ["/a%4", "malformed percent-encoding"],
  ["/a%", "malformed percent-encoding"],
  ["/a%4?x", "malformed percent-encoding"],
  ["/a%%41", "malformed percent-encoding"],
  ["/a b", "space"],
  ["/a\r\nHost: evil", "control character"],
  ["/a\rb", "control character"],
  ["/a\nb", "control character"],
  ["/a\u0000b", "control character"],
  ["/a\tb", "control character"],
  ["/a\u007fb", "control character"],
  ["/caf\u00c3\u00a9", "non-ASCII byte"],
  ["/caf\u00e9", "non-ASCII byte"],
  ["/\u{1F600}", "non-ASCII byte"],
  ["/a#frag", "fragment"],
  ["/a?x#frag", "fragment"],
  ["/a?x y", "space"],
  ["/a?x\r\n", "control character"],
  ["/a?\u00e9", "non-ASCII byte"],
  ["/./../x", "path climbs above root"],
];

describe("normalizePath", () => {
  it.each(accepted)("accepts %j as path %j, query %j", (target, path, query) => {
    expect(normalizePath(target)).toEqual({ ok: true, path, query });
  });

  it.each(rejected)("rejects %j (%s)", (target, reason) => {
    expect(normalizePath(target)).toEqual({ ok: false, reason });
  });

  it("returns an already normalized path as the same string (fast path)", () => {
    const target = "/api/v1/users/42";
    const result = normalizePath(target);
    expect(result.ok && result.path).toBe(target);
  });

  it("accepts encoded slashes and backslashes with allowEncodedSlash, kept encoded and upper-case", () => {
    const options = { ...defaultNormalizePathOptions, allowEncodedSlash: true };
    expect(normalizePath("/a%2fb/..", options)).toEqual({ ok: true, path: "/", query: "" });
    expect(normalizePath("/a%2fb%5c", options)).toEqual({ ok: true, path: "/a%2Fb%5C", query: "" });
    expect(normalizePath("/a\\b", options)).toEqual({ ok: false, reason: "backslash" });
  });

  it("accepts double encoding with allowDoubleEncoding, without decoding it", () => {
    const options = { ...defaultNormalizePathOptions, allowDoubleEncoding: true };
    expect(normalizePath("/%252e%252e/x", options)).toEqual({ ok: true, path: "/%252e%252e/x", query: "" });
  });

  it("keeps duplicate slashes when mergeSlashes is off, still resolving dot segments", () => {
    const options = { ...defaultNormalizePathOptions, mergeSlashes: false };
    expect(normalizePath("//a///b", options)).toEqual({ ok: true, path: "//a///b", query: "" });
    expect(normalizePath("/a//../b", options)).toEqual({ ok: true, path: "/a/b", query: "" });
  });

  it("parses its options strictly, with defaults", () => {
    expect(normalizePathOptionsSchema.parse({})).toEqual(defaultNormalizePathOptions);
    expect(normalizePathOptionsSchema.safeParse({ mergeSlash: false }).success).toBe(false);
  });
});
