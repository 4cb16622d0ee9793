import * as jose from "jose";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { AuthFailure, isAuthenticationError } from "../src/auth/authentication-error.js";
import { JwtAuthenticator, jwtAuthenticator } from "../src/auth/jwt-authenticator.js";
import { jwtProviderSchema } from "../src/auth/jwt-provider-options.js";
import { GatewayErrorCode } from "../src/chain/gateway-error.js";
import { signToken, type TestKey, testKey } from "./fixtures/jwks-server.js";

// Spy on jose's jwtVerify to prove that cache hits do not reach it.
vi.mock("jose", async (importOriginal) => {
  const original = await importOriginal<typeof import("jose")>();
  return { ...original, jwtVerify: vi.fn(original.jwtVerify) };
});

const issuer = "https://idp.test/";
const audience = "orders-api";
const start = Date.UTC(2030, 0, 1);

let rsa: TestKey;
let ec: TestKey;
let ed: TestKey;
let stranger: TestKey;

beforeAll(async () => {
  [rsa, ec, ed, stranger] = await Promise.all([
    testKey("RS256", "rsa-1"),
    testKey("ES256", "ec-1"),
    testKey("EdDSA", "ed-1"),
    testKey("RS256", "rsa-1"), // same kid as rsa, different key: a forger's
  ]);
});

function setup(overrides: Record<string, unknown> = {}) {
  const clock = { t: start, now: () => clock.t };
  const auth = jwtAuthenticator(
    { issuer, audience, keys: [rsa.jwk, ec.jwk, ed.jwk] as never, ...overrides },
    { clock },
  );
  return { auth, clock };
}

async function reasonOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(isAuthenticationError(error)).toBe(true);
    expect((error as { code: string }).code).toBe(GatewayErrorCode.Unauthorized);
    return (error as { reason: string }).reason;
  }
  throw new Error("expected verification to fail");
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

const claims = { iss: issuer, aud: audience, sub: "user-1", azp: "web-app" };

describe("jwtAuthenticator with static keys", () => {
  it.each(["RS256", "ES256", "EdDSA"])("accepts a valid %s token and maps its claims", async (alg) => {
    const { auth } = setup();
    const key = { RS256: rsa, ES256: ec, EdDSA: ed }[alg]!;
    const token = await signToken(
      key,
      { ...claims, roles: ["admin", "ops"], scope: "orders:read orders:write" },
      start,
    );
    const identity = await auth.verify(token);
    expect(identity).toMatchObject({
      subject: "user-1",
      consumer: "web-app",
      roles: ["admin", "ops"],
      scopes: ["orders:read", "orders:write"],
      method: "jwt",
    });
    expect(identity.claims.sub).toBe("user-1");
  });

  it("refuses an expired token", async () => {
    const { auth, clock } = setup();
    const token = await signToken(rsa, { ...claims, exp: start / 1000 + 60 }, start);
    clock.t = start + 91_000; // 60 s lifetime + 30 s default skew passed
    expect(await reasonOf(auth.verify(token))).toBe(AuthFailure.Expired);
  });

  it("accepts a token expired or not yet valid by less than the clock skew", async () => {
    const { auth, clock } = setup({ clockSkew: "30s" });
    const expired = await signToken(rsa, { ...claims, exp: start / 1000 - 20 }, start - 60_000);
    const early = await signToken(rsa, { ...claims, nbf: start / 1000 + 20 }, start);
    await expect(auth.verify(expired)).resolves.toMatchObject({ subject: "user-1" });
    await expect(auth.verify(early)).resolves.toMatchObject({ subject: "user-1" });
    clock.t = start - 11_000; // nbf 31 s ahead now
    const early2 = await signToken(rsa, { ...claims, nbf: start / 1000 + 20, jti: "x" }, start);
    expect(await reasonOf(auth.verify(early2))).toBe(AuthFailure.NotYetValid);
  });

  it("refuses a token whose nbf is in the future", async () => {
    const { auth } = setup();
    const token = await signToken(rsa, { ...claims, nbf: start / 1000 + 300 }, start);
    expect(await reasonOf(auth.verify(token))).toBe(AuthFailure.NotYetValid);
  });

  it("refuses a wrong audience and a wrong issuer", async () => {
    const { auth } = setup();
    const wrongAud = await signToken(rsa, { ...claims, aud: "billing-api" }, start);
    const wrongIss = await signToken(rsa, { ...claims, iss: "https://evil.test/" }, start);
    const noAud = await signToken(rsa, { iss: issuer, sub: "user-1" }, start);
    expect(await reasonOf(auth.verify(wrongAud))).toBe(AuthFailure.WrongAudience);
    expect(await reasonOf(auth.verify(wrongIss))).toBe(AuthFailure.WrongIssuer);
    expect(await reasonOf(auth.verify(noAud))).toBe(AuthFailure.WrongAudience);
  });

  it("accepts any of several issuers and audiences", async () => {
    const { auth } = setup({ issuer: ["https://a.test/", issuer], audience: ["x", audience] });
    const token = await signToken(rsa, { ...claims, aud: ["other", audience] }, start);
    await expect(auth.verify(token)).resolves.toMatchObject({ subject: "user-1" });
    expect(auth.acceptsIssuer(issuer)).toBe(true);
    expect(auth.acceptsIssuer("https://evil.test/")).toBe(false);
  });

  it('refuses an unsigned "alg: none" token', async () => {
    const { auth } = setup();
    const unsigned = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ ...claims, exp: start / 1000 + 60 })}.`;
    expect(await reasonOf(auth.verify(unsigned))).toBe(AuthFailure.AlgorithmNotAllowed);
    const viaJose = new jose.UnsecuredJWT({ ...claims }).setExpirationTime(start / 1000 + 60).encode();
    expect(await reasonOf(auth.verify(viaJose))).toBe(AuthFailure.AlgorithmNotAllowed);
  });

  it("refuses an HS256 token signed with the RSA public key as the HMAC secret", async () => {
    const { auth } = setup();
    const pem = await jose.exportSPKI(rsa.publicKey);
    const secrets = [new TextEncoder().encode(pem), new TextEncoder().encode(JSON.stringify(rsa.jwk))];
    for (const secret of secrets) {
      const forged = await new jose.SignJWT({ ...claims, roles: ["admin"] })
        .setProtectedHeader({ alg: "HS256", kid: rsa.kid })
        .setExpirationTime(start / 1000 + 600)
        .sign(secret);
      expect(await reasonOf(auth.verify(forged))).toBe(AuthFailure.AlgorithmNotAllowed);
    }
  });

  it("refuses HS256 in the configuration, and jose's key sets would refuse it anyway", async () => {
    expect(() => setup({ algorithms: ["RS256", "HS256"] })).toThrow(/HS256.*symmetric/);
    // Second line of defence should the schema ever allow it: a JWK set never yields an HMAC key.
    const pem = await jose.exportSPKI(rsa.publicKey);
    const forged = await new jose.SignJWT({ ...claims })
      .setProtectedHeader({ alg: "HS256", kid: rsa.kid })
      .setExpirationTime(start / 1000 + 600)
      .sign(new TextEncoder().encode(pem));
    const keySet = jose.createLocalJWKSet({ keys: [rsa.jwk] });
    await expect(
      jose.jwtVerify(forged, keySet, { algorithms: ["HS256", "RS256"], currentDate: new Date(start) }),
    ).rejects.toMatchObject({ code: "ERR_JOSE_NOT_SUPPORTED" });
  });

  it("refuses a token signed by another key under a known kid, and a tampered payload", async () => {
    const { auth } = setup();
    const forged = await signToken(stranger, claims, start);
    expect(await reasonOf(auth.verify(forged))).toBe(AuthFailure.BadSignature);
    const genuine = await signToken(rsa, claims, start);
    const [header, , signature] = genuine.split(".");
    const tampered = `${header}.${b64url({ ...claims, sub: "admin", exp: start / 1000 + 60 })}.${signature}`;
    expect(await reasonOf(auth.verify(tampered))).toBe(AuthFailure.BadSignature);
  });

  it("refuses a token with an unknown kid", async () => {
    const { auth } = setup();
    const token = await signToken(rsa, claims, start, { kid: "rsa-9" });
    expect(await reasonOf(auth.verify(token))).toBe(AuthFailure.UnknownKey);
  });

  it("refuses an algorithm outside the allowed list", async () => {
    const { auth } = setup({ algorithms: ["RS256"] });
    const token = await signToken(ec, claims, start);
    expect(await reasonOf(auth.verify(token))).toBe(AuthFailure.AlgorithmNotAllowed);
  });

  it("refuses malformed tokens", async () => {
    const { auth } = setup();
    const signedGarbage = await new jose.CompactSign(new TextEncoder().encode("not json"))
      .setProtectedHeader({ alg: "RS256", kid: rsa.kid })
      .sign(rsa.privateKey);
    for (const token of ["", "abc", "a.b.c", "a.b", signedGarbage]) {
      expect(await reasonOf(auth.verify(token))).toBe(AuthFailure.Malformed);
    }
    const noSubject = await signToken(rsa, { iss: issuer, aud: audience }, start);
    expect(await reasonOf(auth.verify(noSubject))).toBe(AuthFailure.Malformed);
  });

  it("reads roles at a dotted path, scopes from an array or scp, and the consumer with fallbacks", async () => {
    const { auth } = setup({ rolesClaim: "realm_access.roles" });
    const keycloak = await signToken(
      rsa,
      {
        ...claims,
        azp: undefined,
        client_id: "cli",
        realm_access: { roles: ["admin", 7, ""] },
        scp: ["a", "b"],
      },
      start,
    );
    expect(await auth.verify(keycloak)).toMatchObject({
      consumer: "cli",
      roles: ["admin"],
      scopes: ["a", "b"],
    });
    const bare = await signToken(rsa, { iss: issuer, aud: audience, sub: "svc" }, start);
    expect(await auth.verify(bare)).toMatchObject({ subject: "svc", consumer: "svc", roles: [], scopes: [] });
    const namespaced = setup({ rolesClaim: "https://example.com/roles" }).auth;
    const auth0 = await signToken(rsa, { ...claims, "https://example.com/roles": ["editor"] }, start);
    expect(await namespaced.verify(auth0)).toMatchObject({ roles: ["editor"] });
  });
});

describe("jwtAuthenticator token cache", () => {
  it("answers a repeated token from the cache without calling jose", async () => {
    const { auth } = setup();
    const token = await signToken(rsa, claims, start);
    const spy = vi.mocked(jose.jwtVerify);
    spy.mockClear();
    const first = await auth.verify(token);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(auth.cached(token)).toBe(first);
    expect(await auth.verify(token)).toBe(first);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(auth.snapshot()).toMatchObject({ verifications: 1, cacheHits: 2, cacheSize: 1 });
  });

  it("refuses a cached token once it expires, with the skew", async () => {
    const { auth, clock } = setup({ clockSkew: "10s" });
    const token = await signToken(rsa, { ...claims, exp: start / 1000 + 60 }, start);
    await auth.verify(token);
    clock.t = start + 69_999;
    expect(auth.cached(token)).toBeDefined();
    clock.t = start + 70_000;
    expect(auth.cached(token)).toBeUndefined();
    expect(await reasonOf(auth.verify(token))).toBe(AuthFailure.Expired);
  });

  it("refuses a cached token before its nbf when the clock goes back", async () => {
    const { auth, clock } = setup({ clockSkew: 0 });
    const token = await signToken(rsa, { ...claims, nbf: start / 1000 }, start);
    await auth.verify(token);
    clock.t = start - 1000;
    expect(auth.cached(token)).toBeUndefined();
    expect(await reasonOf(auth.verify(token))).toBe(AuthFailure.NotYetValid);
  });

  it("keeps at most tokenCacheSize tokens, dropping the least recently used", async () => {
    const { auth } = setup({ tokenCacheSize: 2 });
    const [a, b, c] = await Promise.all(
      ["a", "b", "c"].map((sub) => signToken(rsa, { ...claims, sub }, start)),
    );
    await auth.verify(a!);
    await auth.verify(b!);
    expect(auth.cached(a!)).toBeDefined(); // a is now the most recently used
    await auth.verify(c!);
    expect(auth.snapshot().cacheSize).toBe(2);
    expect(auth.cached(b!)).toBeUndefined();
    expect(auth.cached(a!)).toBeDefined();
    expect(auth.cached(c!)).toBeDefined();
  });

  it("keeps a token in use while many others pass through a small cache", async () => {
    const { auth } = setup({ tokenCacheSize: 4 });
    const hot = await signToken(rsa, { ...claims, sub: "hot" }, start);
    await auth.verify(hot);
    for (let i = 0; i < 12; i++) {
      await auth.verify(await signToken(rsa, { ...claims, sub: `cold-${i}` }, start));
      expect(auth.cached(hot)).toBeDefined();
    }
    expect(auth.snapshot()).toMatchObject({ verifications: 13, cacheSize: 4 });
  });

  it("does not cache with tokenCacheSize 0, nor failed tokens", async () => {
    const off = setup({ tokenCacheSize: 0 }).auth;
    const token = await signToken(rsa, claims, start);
    await off.verify(token);
    await off.verify(token);
    expect(off.snapshot()).toMatchObject({ verifications: 2, cacheHits: 0, cacheSize: 0 });
    const { auth } = setup();
    const bad = await signToken(rsa, { ...claims, aud: "x" }, start);
    await reasonOf(auth.verify(bad));
    expect(auth.cached(bad)).toBeUndefined();
  });
});

describe("jwtProviderSchema", () => {
  const base = { issuer, audience, jwksUrl: "https://idp.test/jwks" };

  it("applies defaults and parses durations", () => {
    const parsed = jwtProviderSchema.parse({ ...base, clockSkew: "5s", jwksTimeout: 500 });
    expect(parsed).toMatchObject({
      issuer: [issuer],
      audience: [audience],
      algorithms: ["RS256", "ES256", "EdDSA"],
      clockSkew: 5000,
      jwksCooldown: 30_000,
      jwksCacheMaxAge: 600_000,
      jwksTimeout: 500,
      rolesClaim: "roles",
      scopesClaim: "scope",
      consumerClaim: "azp",
      tokenCacheSize: 10_000,
    });
  });

  it.each([
    [{ algorithms: ["none"] }, /never allowed/],
    [{ algorithms: ["NONE"] }, /never allowed/],
    [{ algorithms: ["HS256"] }, /symmetric/],
    [{ algorithms: ["RS257"] }, /unknown algorithm/],
    [{ keys: [{ kty: "RSA", n: "x", e: "AQAB" }] }, /exactly one of jwksUrl and keys/],
    [{ jwksUrl: "ftp://idp.test/jwks" }, /jwksUrl/],
    [{ clockSkew: "soon" }, /clockSkew/],
    [{ issuers: [issuer] }, /issuers/],
  ])("refuses %j", (patch, message) => {
    expect(() => new JwtAuthenticator({ ...base, ...patch } as never)).toThrow(message);
  });

  it("refuses a private key among static keys and requires a key source", () => {
    const { jwksUrl: _, ...noSource } = base;
    expect(() => jwtAuthenticator(noSource)).toThrow(/exactly one of jwksUrl and keys/);
    expect(() =>
      jwtAuthenticator({ ...noSource, keys: [{ kty: "EC", crv: "P-256", x: "a", y: "b", d: "c" }] }),
    ).toThrow(/private key/);
  });
});
