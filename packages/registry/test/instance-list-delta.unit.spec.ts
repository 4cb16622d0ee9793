import { describe, expect, it } from "vitest";
import type { InstanceRecord } from "../src/registration.js";
import { InstanceList } from "../src/server/instance-list.js";
import { instanceListDelta } from "../src/server/instance-list-delta.js";

function record(id: string, modifyIndex = 1): InstanceRecord {
  return {
    id,
    service: "orders",
    address: "10.0.0.1",
    port: 8080,
    version: "1.0.0",
    weight: 1,
    tags: [],
    metadata: {},
    status: "passing",
    checks: [],
    lease: `lease-${id}`,
    ttlMs: 10_000,
    registeredAt: 0,
    modifyIndex,
  };
}

const parse = (members: string | null | undefined) =>
  JSON.parse(`{${members}}`) as {
    put: InstanceRecord[];
    delete: string[];
  };

describe("instanceListDelta", () => {
  const a = record("a");
  const b = record("b");
  const c = record("c");
  const d = record("d");

  it("puts added records, deletes removed ids and keeps the same objects out, in id order", () => {
    const members = instanceListDelta(new InstanceList(5, [a, b, c]), new InstanceList(9, [b, d]));
    const delta = parse(members);
    expect(delta.put.map((r) => r.id)).toEqual(["d"]);
    expect(delta.delete).toEqual(["a", "c"]);
  });

  it("puts a record written again (a new object under the same id) whole", () => {
    const b2 = record("b", 7);
    const delta = parse(instanceListDelta(new InstanceList(5, [a, b, c]), new InstanceList(7, [a, b2, c])));
    expect(delta.put).toEqual([b2]);
    expect(delta.delete).toEqual([]);
  });

  it("says nothing when no record changed, even at a new index", () => {
    expect(instanceListDelta(new InstanceList(5, [a, b]), new InstanceList(8, [a, b]))).toBeUndefined();
    expect(instanceListDelta(new InstanceList(5, []), new InstanceList(8, []))).toBeUndefined();
  });

  it("asks for a snapshot when the index went backwards", () => {
    expect(instanceListDelta(new InstanceList(9, [a]), new InstanceList(4, [a, b]))).toBeNull();
  });

  it("asks for a snapshot when every record of the new list changed (a re-list), but deletes down to empty", () => {
    const renewed = [record("a"), record("b"), record("c")];
    expect(instanceListDelta(new InstanceList(5, [a, b, c]), new InstanceList(9, renewed))).toBeNull();
    expect(instanceListDelta(new InstanceList(5, [a]), new InstanceList(9, [b]))).toBeNull();
    expect(parse(instanceListDelta(new InstanceList(5, [a, b]), new InstanceList(9, []))).delete).toEqual([
      "a",
      "b",
    ]);
  });
});
