import { describe, expect, it } from "vitest";
import { JsonBodyMapping } from "../src/transform/json-body-mapping.js";
import { compileJsonPath, JsonRename, removeJsonPath, setJsonPath } from "../src/transform/json-path.js";

const p = compileJsonPath;

describe("json paths", () => {
  it("refuses empty keys and prototype keys", () => {
    expect(() => p("")).toThrow(TypeError);
    expect(() => p("a..b")).toThrow(/empty key/);
    expect(() => p("a.__proto__.polluted")).toThrow(/not allowed/);
    expect(() => p("constructor")).toThrow(/not allowed/);
  });

  it("removes nested fields, element-wise through arrays, ignoring missing ones", () => {
    const doc = { user: { name: "a", secret: 1 }, items: [{ id: 1, cost: 2 }, { id: 2 }, 7], other: null };
    removeJsonPath(doc, p("user.secret"));
    removeJsonPath(doc, p("items.cost"));
    removeJsonPath(doc, p("other.deep"));
    removeJsonPath(doc, p("missing.path"));
    expect(doc).toEqual({ user: { name: "a" }, items: [{ id: 1 }, { id: 2 }, 7], other: null });
  });

  it("does not treat inherited properties as present", () => {
    const doc = { a: 1 };
    const rename = new JsonRename(p("toString"), p("text"));
    rename.apply(doc);
    expect(doc).toEqual({ a: 1 });
  });

  it("sets constants, creating objects on the way, into each array element, and copies object constants", () => {
    const constant = { currency: "EUR" };
    const doc: Record<string, unknown> = { items: [{ id: 1 }, { id: 2 }], meta: null, flat: 3 };
    setJsonPath(doc, p("a.b.c"), true);
    setJsonPath(doc, p("items.price"), constant);
    setJsonPath(doc, p("meta.version"), 2);
    setJsonPath(doc, p("flat.x"), 1);
    expect(doc).toEqual({
      items: [
        { id: 1, price: { currency: "EUR" } },
        { id: 2, price: { currency: "EUR" } },
      ],
      meta: { version: 2 },
      flat: 3,
      a: { b: { c: true } },
    });
    const items = doc.items as { price: { currency: string } }[];
    items[0]!.price.currency = "USD";
    expect(items[1]!.price.currency).toBe("EUR");
    expect(constant.currency).toBe("EUR");
  });

  it("renames within each array element below the shared prefix and across objects", () => {
    const doc = { data: { items: [{ price: 1 }, { price: 2 }, { name: "x" }] }, user: { name: "n" } };
    new JsonRename(p("data.items.price"), p("data.items.amount.value")).apply(doc);
    new JsonRename(p("user.name"), p("profile.displayName")).apply(doc);
    expect(doc).toEqual({
      data: { items: [{ amount: { value: 1 } }, { amount: { value: 2 } }, { name: "x" }] },
      user: {},
      profile: { displayName: "n" },
    });
  });

  it("leaves the value where it was when a primitive blocks the target", () => {
    const doc = { a: 1, b: "text" };
    new JsonRename(p("a"), p("b.c")).apply(doc);
    expect(doc).toEqual({ a: 1, b: "text" });
  });

  it("applies rename, then remove, then set, to a top-level array element-wise", () => {
    const mapping = new JsonBodyMapping({
      rename: { user_id: "userId" },
      remove: ["internal"],
      set: { "meta.source": "gateway" },
    });
    const doc = [
      { user_id: 1, internal: true },
      { user_id: 2, meta: { v: 1 } },
    ];
    mapping.apply(doc);
    expect(doc).toEqual([
      { userId: 1, meta: { source: "gateway" } },
      { userId: 2, meta: { v: 1, source: "gateway" } },
    ]);
  });
});
