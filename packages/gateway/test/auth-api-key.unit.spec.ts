import { describe, expect, it } from "vitest";
import { apiKeyAuthenticator } from "../src/auth/api-key-authenticator.js";
import { hashApiKey } from "../src/auth/hash-api-key.js";
import { GatewayErrorCode } from "../src/chain/gateway-error.js";

const key = "k_live_7f3a9c1e5b2d4f6a8c0e";

describe("hashApiKey", () => {
  it("gives sha256: and the key's SHA-256 in lower-case hex", () => {
    // printf %s abc | sha256sum
    expect(hashApiKey("abc")).toBe("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(hashApiKey(key)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe("apiKeyAuthenticator", () => {
  const keys = apiKeyAuthenticator({
    keys: [
      {
        consumer: "billing-batch",
        hash: hashApiKey(key).toUpperCase().replace("SHA256", "sha256"),
        roles: ["billing"],
      },
      { consumer: "reporting", hash: hashApiKey("other-key"), scopes: ["reports:read"] },
    ],
  });

  it("finds the identity of a configured key, hashed in any hex case", () => {
    expect(keys.header).toBe("x-api-key");
    expect(keys.size).toBe(2);
    const identity = keys.lookup(key);
    expect(identity).toEqual({
      subject: "billing-batch",
      consumer: "billing-batch",
      roles: ["billing"],
      scopes: [],
      method: "api-key",
      claims: {},
    });
    expect(keys.lookup(key)).toBe(identity);
    expect(keys.lookup("other-key")).toMatchObject({ consumer: "reporting", scopes: ["reports:read"] });
  });

  it("finds nothing for unknown, empty, near-miss or oversized keys", () => {
    expect(keys.lookup("")).toBeUndefined();
    expect(keys.lookup(`${key} `)).toBeUndefined();
    expect(keys.lookup(key.slice(0, -1))).toBeUndefined();
    expect(keys.lookup(hashApiKey(key))).toBeUndefined();
    expect(keys.lookup("x".repeat(5000))).toBeUndefined();
  });

  it("reads the header name in lower case", () => {
    expect(apiKeyAuthenticator({ header: "X-Client-Key", keys: [] }).header).toBe("x-client-key");
  });

  it.each([
    [{ keys: [{ consumer: "a", hash: "md5:abc" }] }, /sha256/],
    [{ keys: [{ consumer: "a", hash: key }] }, /sha256/],
    [{ keys: [{ consumer: "", hash: hashApiKey(key) }] }, /consumer/],
    [{ keys: [{ consumer: "a", hash: hashApiKey(key), key }] }, /key/],
    [{ header: "x api key", keys: [] }, /header/],
    [
      {
        keys: [
          { consumer: "a", hash: hashApiKey(key) },
          { consumer: "b", hash: hashApiKey(key) },
        ],
      },
      /same key hash as keys\.0/,
    ],
  ])("refuses the configuration %j", (options, message) => {
    let thrown: unknown;
    try {
      apiKeyAuthenticator(options as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: GatewayErrorCode.ConfigInvalid });
    expect((thrown as Error).message).toMatch(message);
  });
});
