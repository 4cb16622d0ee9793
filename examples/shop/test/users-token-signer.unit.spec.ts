import { createPublicKey, verify } from "node:crypto";
import { describe, expect, test } from "vitest";
import { type SqlRunner, TokenSigner } from "../services/users/token-signer.ts";

/** The one-row signing_keys table in memory, with the migration's ON CONFLICT (slot) DO NOTHING. */
function keyTable(): SqlRunner & { inserts: number } {
  let row: { kid: string; private_key_pem: string } | undefined;
  const table = {
    inserts: 0,
    async query<R extends Record<string, unknown>>(text: string, values: unknown[] = []) {
      if (text.startsWith("INSERT")) {
        table.inserts += 1;
        row ??= { kid: String(values[0]), private_key_pem: String(values[1]) };
        return { rows: [] as R[] };
      }
      return { rows: (row === undefined ? [] : [row]) as unknown as R[] };
    },
  };
  return table;
}

const decode = (part: string) => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));

describe("TokenSigner", () => {
  test("issues RS256 tokens that verify against the published key set", async () => {
    const signer = new TokenSigner({ now: () => 1_700_000_000_000, ttlSeconds: 600 });
    await signer.load(keyTable());
    const token = signer.issue({ sub: "u-alice", email: "alice@example.com", name: "Alice" });
    const [header, payload, signature] = token.split(".");
    expect(decode(header!)).toMatchObject({ alg: "RS256", typ: "JWT" });
    expect(decode(payload!)).toEqual({
      sub: "u-alice",
      email: "alice@example.com",
      name: "Alice",
      iss: "shop-users",
      aud: "shop-api",
      iat: 1_700_000_000,
      exp: 1_700_000_600,
    });
    const [jwk] = signer.jwks().keys;
    expect(jwk).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig", kid: decode(header!).kid });
    expect(jwk).not.toHaveProperty("d");
    const publicKey = createPublicKey({ key: jwk as never, format: "jwk" });
    expect(
      verify("sha256", Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature!, "base64url")),
    ).toBe(true);
  });

  test("generates the key once: a second instance loads the stored one", async () => {
    const table = keyTable();
    const first = new TokenSigner();
    const second = new TokenSigner();
    await first.load(table);
    await second.load(table);
    expect(table.inserts).toBe(1);
    expect(second.jwks()).toEqual(first.jwks());
  });

  test("refuses to sign before the key is loaded", () => {
    expect(() => new TokenSigner().issue({ sub: "u", email: "e", name: "n" })).toThrow(/not loaded/);
  });
});
