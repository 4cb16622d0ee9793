import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  defaultNormalizePathOptions,
  type NormalizePathOptions,
  normalizePath,
} from "../src/router/normalize-path.js";
import { rewriteTarget } from "../src/router/rewrite.js";
import { compileRouter } from "../src/router/router.js";

const numRuns = 2000;

// Any UTF-16 code unit, lone surrogates included.
const anyChar = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

// Pieces that hit the interesting branches far more often than random text does.
const piece = fc.constantFrom(
  "/",
  "/",
  "//",
  ".",
  "..",
  "%2e",
  "%2E",
  "%2f",
  "%5C",
  "%25",
  "%41",
  "%7e",
  "%c3%a9",
  "%C3",
  "%ff",
  "%0d%0a",
  "%00",
  "%",
  "%z",
  "%4",
  "?",
  "#",
  "\\",
  " ",
  "\r\n",
  "\u0000",
  "a",
  "users",
  "42",
  "é",
  ":",
  "@",
  "~",
  "{",
  "|",
  "*",
);
const pathLike = fc.array(piece, { maxLength: 20 }).map((pieces) => `/${pieces.join("")}`);
const target = fc.oneof(pathLike, fc.string({ unit: anyChar }), fc.string({ unit: "binary" }));

const optionSets: NormalizePathOptions[] = [
  defaultNormalizePathOptions,
  { allowEncodedSlash: true, allowDoubleEncoding: true, mergeSlashes: true },
  { allowEncodedSlash: true, allowDoubleEncoding: false, mergeSlashes: false },
];

// Only what RFC 3986 allows in a path, with upper-case percent-encoding.
const normalizedShape = /^\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-F]{2})*$/;

describe("normalizePath (fuzz)", () => {
  it("never throws, and an accepted path is rooted, has no dot segments, no // and only path characters", () => {
    fc.assert(
      fc.property(target, (t) => {
        const result = normalizePath(t);
        if (!result.ok) {
          expect(typeof result.reason).toBe("string");
          return;
        }
        const path = result.path;
        expect(path.startsWith("/")).toBe(true);
        expect(path).not.toContain("/../");
        expect(path).not.toContain("/./");
        expect(path).not.toContain("//");
        expect(path.endsWith("/..")).toBe(false);
        expect(path.endsWith("/.")).toBe(false);
        expect(path).toMatch(normalizedShape);
        expect(path).not.toMatch(/%2F|%5C|%25[0-9A-Fa-f]{2}|%00/);
        expect(result.query === "" || result.query.startsWith("?")).toBe(true);
        // Visible ASCII except "#": no control character, space or non-ASCII.
        expect(result.query).toMatch(/^[!-"$-~]*$/);
      }),
      { numRuns },
    );
  });

  it("is idempotent under each option set", () => {
    for (const options of optionSets) {
      fc.assert(
        fc.property(target, (t) => {
          const first = normalizePath(t, options);
          if (!first.ok) return;
          expect(normalizePath(first.path + first.query, options)).toEqual(first);
        }),
        { numRuns: Math.floor(numRuns / optionSets.length) },
      );
    }
  });
});

const router = compileRouter([
  {
    id: "orders",
    path: { template: "/users/:userId/orders/:orderId" },
    methods: ["GET"],
    payload: "/v2/u/{userId}/o/{orderId}",
  },
  {
    id: "user",
    path: { template: "/users/:userId" },
    headers: [{ name: "x-v", regex: "[0-9]+" }],
    payload: "/v2/u/{userId}",
  },
  { id: "one", path: { template: "/:a" }, hosts: ["*.example.com"], payload: "/x/{a}" },
  { id: "pair", path: { template: "/:a/:b" }, payload: "/{b}/{a}" },
  { id: "rest", path: { template: "/files/:bucket/*" }, methods: ["PUT"], payload: "/s/{bucket}/{*}" },
  { id: "api", path: { prefix: "/api" }, hosts: ["api.example.com"], payload: "/" },
  { id: "health", path: { exact: "/health" }, payload: "/healthz" },
]);
const rewrites = new Map(
  router.routes.map((r) => [r.id, rewriteTarget({ template: r.payload }, { routeId: r.id, path: r.path })]),
);

const method = fc.oneof(
  fc.constantFrom("GET", "PUT", "POST", "HEAD", "get", ""),
  fc.string({ unit: anyChar }),
);
const host = fc.oneof(
  fc.constantFrom("api.example.com", "a.example.com", "example.com", "API.EXAMPLE.COM"),
  fc.string(),
);
const headerValue = fc.oneof(
  fc.string({ unit: anyChar }),
  fc.array(fc.string({ unit: anyChar }), { maxLength: 3 }),
);
const headers = fc.dictionary(
  fc.oneof(fc.constantFrom("x-v", "__proto__", "constructor"), fc.string()),
  headerValue,
  {
    maxKeys: 4,
  },
);
const normalizedPath = target.map((t) => {
  const result = normalizePath(t, { allowEncodedSlash: true, allowDoubleEncoding: true, mergeSlashes: true });
  return result.ok ? result.path : "/";
});
// One normalized, non-empty segment that decodes to an arbitrary string (when it is valid UTF-16).
const segment = fc.oneof(fc.string({ unit: anyChar, minLength: 1 }), piece).map((value) => {
  let encoded: string;
  try {
    encoded = encodeURIComponent(value);
  } catch {
    encoded = value;
  }
  const result = normalizePath(`/${encoded}`, {
    allowEncodedSlash: true,
    allowDoubleEncoding: true,
    mergeSlashes: true,
  });
  return result.ok && result.path.length > 1 && result.path.indexOf("/", 1) === -1
    ? result.path.slice(1)
    : "x";
});
const templatedPath = fc.oneof(
  segment.map((a) => `/users/${a}`),
  fc.tuple(segment, segment).map(([a, b]) => `/users/${a}/orders/${b}`),
  segment.map((a) => `/${a}`),
  fc.tuple(segment, segment).map(([a, b]) => `/${a}/${b}`),
  fc.tuple(segment, fc.array(segment, { maxLength: 4 })).map(([a, rest]) => `/files/${a}/${rest.join("/")}`),
);
const routedPath = fc.oneof(
  templatedPath,
  normalizedPath,
  fc
    .tuple(fc.constantFrom("/users/", "/files/b/", "/"), normalizedPath)
    .map(([p, rest]) => p + rest.slice(1)),
  fc.string({ unit: anyChar }),
);

describe("router (fuzz)", () => {
  it("match never throws on arbitrary method, host, path and headers", () => {
    fc.assert(
      fc.property(method, host, routedPath, headers, (m, h, p, hs) => {
        const result = router.match(m, h, p, hs);
        expect(["matched", "not-found", "method-not-allowed"]).toContain(result.kind);
        if (result.kind === "method-not-allowed") expect(result.allow.length).toBeGreaterThan(0);
      }),
      { numRuns },
    );
  });

  it("a matched route's params round-trip through its rewrite without CR/LF or dot segments", () => {
    const permissive = { allowEncodedSlash: true, allowDoubleEncoding: true, mergeSlashes: true };
    let rewritten = 0;
    fc.assert(
      fc.property(
        fc.constantFrom("GET", "PUT"),
        templatedPath,
        fc.constantFrom("?q=1", ""),
        (m, p, query) => {
          const result = router.match(m, "a.example.com", p, { "x-v": "1" });
          if (result.kind !== "matched") return;
          const out = rewrites.get(result.route.id)!(p, query, result.params);
          if (out === undefined) return;
          rewritten++;
          expect(out).not.toMatch(/[\r\n]/);
          expect(out.endsWith(query)).toBe(true);
          const outPath = out.slice(0, out.length - query.length);
          expect(normalizePath(outPath, permissive)).toEqual({ ok: true, path: outPath, query: "" });
          const decoded = outPath.split("/").map((s) => decodeURIComponent(s));
          for (const [name, value] of Object.entries(result.params)) {
            if (name === "*") expect(decoded.join("/")).toContain(value);
            else expect(decoded).toContain(value);
          }
        },
      ),
      { numRuns },
    );
    // Guards the generator: most runs must reach the assertions above.
    expect(rewritten).toBeGreaterThan(numRuns / 2);
  });
});
