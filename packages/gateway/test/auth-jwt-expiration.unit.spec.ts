import { SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { AuthFailure } from "../src/auth/authentication-error.js";
import { jwtAuthenticator } from "../src/auth/jwt-authenticator.js";
import { type TestKey, testKey } from "./fixtures/jwks-server.js";

const issuer = "https://idp.test/";
const audience = "orders-api";
const now = Date.UTC(2030, 0, 1);
let rsa: TestKey;

beforeAll(async () => {
  rsa = await testKey("RS256", "rsa-1");
});

async function tokenWithoutExp(): Promise<string> {
  return new SignJWT({ sub: "u1", iss: issuer, aud: audience, iat: Math.floor(now / 1000) })
    .setProtectedHeader({ alg: "RS256", kid: rsa.kid, typ: "JWT" })
    .sign(rsa.privateKey);
}

describe("tokens without exp", () => {
  it("are refused by default", async () => {
    const auth = jwtAuthenticator(
      { issuer, audience, keys: [rsa.jwk] as never },
      { clock: { now: () => now } },
    );
    await expect(auth.verify(await tokenWithoutExp())).rejects.toMatchObject({
      reason: AuthFailure.NoExpiration,
    });
  });

  it("are accepted when the provider says requireExpiration: false", async () => {
    const auth = jwtAuthenticator(
      { issuer, audience, keys: [rsa.jwk] as never, requireExpiration: false },
      { clock: { now: () => now } },
    );
    await expect(auth.verify(await tokenWithoutExp())).resolves.toMatchObject({ subject: "u1" });
  });
});
