import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { AuthFailure, isAuthenticationError } from "../src/auth/authentication-error.js";
import { type JwtAuthenticator, jwtAuthenticator } from "../src/auth/jwt-authenticator.js";
import type { JwtProviderInput } from "../src/auth/jwt-provider-options.js";
import {
  type JwksServer,
  signToken,
  startJwksServer,
  type TestKey,
  testKey,
} from "./fixtures/jwks-server.js";

// jose's remote key set times its cooldown and cache age with Date.now(), so Date is faked
// (nothing else: sockets and AbortSignal.timeout keep real timers).
const issuer = "https://idp.test/";
const audience = "orders-api";
const start = Date.UTC(2030, 0, 1);
const claims = { iss: issuer, aud: audience, sub: "user-1" };

let keyA: TestKey;
let keyB: TestKey;
let keyC: TestKey;
let ecKey: TestKey;
let server: JwksServer | undefined;

beforeAll(async () => {
  [keyA, keyB, keyC, ecKey] = await Promise.all([
    testKey("RS256", "key-a"),
    testKey("RS256", "key-b"),
    testKey("RS256", "key-c"),
    testKey("ES256", "key-ec"),
  ]);
});

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(start);
});

afterEach(async () => {
  vi.useRealTimers();
  await server?.close();
  server = undefined;
});

function advance(ms: number): void {
  vi.setSystemTime(Date.now() + ms);
}

function authFor(url: string, overrides: Partial<JwtProviderInput> = {}): JwtAuthenticator {
  return jwtAuthenticator({ issuer, audience, jwksUrl: url, ...overrides });
}

async function reasonOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(isAuthenticationError(error)).toBe(true);
    return (error as { reason: string }).reason;
  }
  throw new Error("expected verification to fail");
}

describe("jwtAuthenticator with a JWKS endpoint", () => {
  it("verifies RS256 and ES256 tokens with keys fetched once", async () => {
    server = await startJwksServer([keyA.jwk, ecKey.jwk]);
    const auth = authFor(server.url);
    const rs = await signToken(keyA, claims, start);
    const es = await signToken(ecKey, { ...claims, sub: "user-2" }, start);
    await expect(auth.verify(rs)).resolves.toMatchObject({ subject: "user-1", method: "jwt" });
    await expect(auth.verify(es)).resolves.toMatchObject({ subject: "user-2" });
    expect(server.hits).toBe(1);
  });

  it("refetches once for 20 concurrent tokens with an unknown kid, then verifies the rotated key", async () => {
    server = await startJwksServer([keyA.jwk]);
    const auth = authFor(server.url);
    await auth.verify(await signToken(keyA, claims, start));
    expect(server.hits).toBe(1);

    server.keys = [keyA.jwk, keyB.jwk]; // the IdP rotates
    advance(31_000); // past the 30 s cooldown since the first fetch
    const tokens = await Promise.all(
      Array.from({ length: 20 }, (_, i) => signToken(keyB, { ...claims, sub: `user-${i}` }, Date.now())),
    );
    const identities = await Promise.all(tokens.map((token) => auth.verify(token)));
    expect(identities.map((identity) => identity.subject)).toEqual(tokens.map((_, i) => `user-${i}`));
    expect(server.hits).toBe(2);

    // Within the cooldown another unknown kid does not reach the endpoint at all.
    const unknown = await signToken(keyC, claims, Date.now());
    expect(await reasonOf(auth.verify(unknown))).toBe(AuthFailure.UnknownKey);
    expect(server.hits).toBe(2);
    advance(31_000);
    expect(await reasonOf(auth.verify(unknown))).toBe(AuthFailure.UnknownKey);
    expect(server.hits).toBe(3);
  });

  it("shares one fetch among concurrent first requests", async () => {
    server = await startJwksServer([keyA.jwk]);
    const auth = authFor(server.url);
    const tokens = await Promise.all(
      Array.from({ length: 20 }, (_, i) => signToken(keyA, { ...claims, sub: `u${i}` }, start)),
    );
    await Promise.all(tokens.map((token) => auth.verify(token)));
    expect(server.hits).toBe(1);
  });

  it("answers key set unavailable when the endpoint is down, without crashing", async () => {
    server = await startJwksServer([keyA.jwk]);
    const url = server.url;
    await server.close();
    server = undefined;
    const auth = authFor(url);
    const token = await signToken(keyA, claims, start);
    expect(await reasonOf(auth.verify(token))).toBe(AuthFailure.KeySetUnavailable);
    expect(auth.snapshot().jwks).toEqual({ fetches: 1, failures: 1 });
  });

  it("answers key set unavailable on an error status, retrying at most once a second", async () => {
    server = await startJwksServer([keyA.jwk]);
    server.status = 503;
    const auth = authFor(server.url);
    const token = await signToken(keyA, claims, start);
    expect(await reasonOf(auth.verify(token))).toBe(AuthFailure.KeySetUnavailable);
    expect(await reasonOf(auth.verify(token))).toBe(AuthFailure.KeySetUnavailable);
    expect(server.hits).toBe(1);
    server.status = 200;
    advance(1000);
    await expect(auth.verify(token)).resolves.toMatchObject({ subject: "user-1" });
    expect(server.hits).toBe(2);
  });

  it("answers key set unavailable when the endpoint does not answer within jwksTimeout", async () => {
    server = await startJwksServer([keyA.jwk]);
    server.hang = true;
    const auth = authFor(server.url, { jwksTimeout: "50ms" });
    expect(await reasonOf(auth.verify(await signToken(keyA, claims, start)))).toBe(
      AuthFailure.KeySetUnavailable,
    );
    expect(server.hits).toBe(1);
  });

  it("keeps verifying with the last key set when a refresh fails (stale-if-error)", async () => {
    server = await startJwksServer([keyA.jwk]);
    const auth = authFor(server.url, { jwksCacheMaxAge: "10m" });
    await auth.verify(await signToken(keyA, claims, start));
    server.status = 500;
    advance(11 * 60_000); // the key set is due for a refresh, which fails
    const later = await signToken(keyA, { ...claims, sub: "user-2" }, Date.now());
    await expect(auth.verify(later)).resolves.toMatchObject({ subject: "user-2" });
    expect(server.hits).toBe(2);
    const unknown = await signToken(keyB, claims, Date.now());
    expect(await reasonOf(auth.verify(unknown))).toBe(AuthFailure.UnknownKey);
  });

  it("verifies a cached token again once the key set it was checked with is due for refresh", async () => {
    server = await startJwksServer([keyA.jwk]);
    const auth = authFor(server.url, { jwksCacheMaxAge: "5m" });
    const token = await signToken(keyA, claims, start); // valid for an hour
    await auth.verify(token);
    await auth.verify(token);
    expect(auth.snapshot()).toMatchObject({ verifications: 1, cacheHits: 1 });
    server.keys = [keyB.jwk]; // key A withdrawn
    advance(5 * 60_000);
    expect(auth.cached(token)).toBeUndefined();
    expect(await reasonOf(auth.verify(token))).toBe(AuthFailure.UnknownKey);
    expect(server.hits).toBe(2);
  });
});
