import { describe, expect, it } from "vitest";

describe("registry error classes", () => {
  it("instanceof matches the code, not the base class", async () => {
    const {
      RegistryError,
      RegistryErrorCode,
      RegistryInvalidRequestError,
      RegistryUnknownLeaseError,
      RegistryDataCorruptError,
      RegistryClientClosedError,
    } = await import("../src/index.js");
    const unreachable = new RegistryError(RegistryErrorCode.Unreachable, "down");
    expect(unreachable).toBeInstanceOf(RegistryError);
    for (const cls of [
      RegistryInvalidRequestError,
      RegistryUnknownLeaseError,
      RegistryDataCorruptError,
      RegistryClientClosedError,
    ]) {
      expect(unreachable instanceof cls, cls.name).toBe(false);
    }
    expect(new RegistryUnknownLeaseError("l1")).toBeInstanceOf(RegistryUnknownLeaseError);
    expect(new RegistryClientClosedError("cache")).toBeInstanceOf(RegistryClientClosedError);
    expect(new RegistryDataCorruptError("f", 1, "bad")).toBeInstanceOf(RegistryDataCorruptError);
  });
});
