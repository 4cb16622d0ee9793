import { beforeAll, describe, expect, it } from "vitest";
import { apiKeyAuthenticator } from "../src/auth/api-key-authenticator.js";
import { type AuthenticationLayerOptions, authenticationLayer } from "../src/auth/authentication-layer.js";
import { hashApiKey } from "../src/auth/hash-api-key.js";
import { type JwtAuthenticator, jwtAuthenticator } from "../src/auth/jwt-authenticator.js";
import { GatewayErrorCode } from "../src/chain/gateway-error.js";
import type { GatewayLogger } from "../src/chain/gateway-logger.js";
import type { GatewayResponse } from "../src/chain/gateway-response.js";
import { fakeExchange, fixedNext } from "./fixtures/exchange.js";
import { signToken, type TestKey, testKey } from "./fixtures/jwks-server.js";

const issuer = "https://idp.test/";
const audience = "orders-api";
const now = Date.now();
const apiKey = "k_test_0123456789abcdef";

let key: TestKey;
let otherKey: TestKey;
let idp: JwtAuthenticator;
let partnerIdp: JwtAuthenticator;

beforeAll(async () => {
  [key, otherKey] = await Promise.all([testKey("ES256", "k1"), testKey("RS256", "p1")]);
  idp = jwtAuthenticator({ issuer, audience, keys: [key.jwk as never] });
  partnerIdp = jwtAuthenticator({ issuer: "https://partner.test/", audience, keys: [otherKey.jwk as never] });
});

const apiKeys = apiKeyAuthenticator({
  keys: [{ consumer: "batch", hash: hashApiKey(apiKey), roles: ["billing"], scopes: ["invoices:write"] }],
});

function recordingLogger(): GatewayLogger & { infos: object[] } {
  const infos: object[] = [];
  return { infos, info: (obj) => infos.push(obj), warn() {}, error() {}, debug() {} };
}

function layerWith(options: Partial<AuthenticationLayerOptions> = {}) {
  const logger = recordingLogger();
  const layer = authenticationLayer({
    methods: ["idp"],
    jwtProviders: { idp, partner: partnerIdp },
    apiKeys,
    logger,
    ...options,
  });
  return { layer, logger };
}

function problem(response: GatewayResponse): Record<string, unknown> {
  return JSON.parse(response.body!.toString()) as Record<string, unknown>;
}

async function token(claims: Record<string, unknown> = {}, signer: TestKey = key): Promise<string> {
  return signToken(
    signer,
    {
      iss: signer === key ? issuer : "https://partner.test/",
      aud: audience,
      sub: "user-1",
      azp: "web",
      ...claims,
    },
    now,
  );
}

describe("authenticationLayer with JWTs", () => {
  it("sets the identity and the upstream identity headers for a valid bearer token", async () => {
    const { layer } = layerWith();
    const jwt = await token({ roles: ["admin", "ops"], scope: "orders:read orders:write" });
    const exchange = fakeExchange({ headers: { authorization: `Bearer ${jwt}` } });
    const next = fixedNext();
    const response = await layer.handle(exchange, next);
    expect(layer.name).toBe("authentication");
    expect(response.status).toBe(200);
    expect(next.calls).toBe(1);
    expect(exchange.identity).toMatchObject({ subject: "user-1", consumer: "web", method: "jwt" });
    expect(exchange.upstreamHeaders).toEqual({
      "x-flotilla-subject": "user-1",
      "x-flotilla-consumer": "web",
      "x-flotilla-roles": "admin,ops",
      "x-flotilla-scopes": "orders:read orders:write",
      "x-flotilla-auth": "jwt",
    });
  });

  it("accepts the scheme in any case and answers repeated tokens from the cache", async () => {
    const { layer } = layerWith();
    const jwt = await token({ sub: "cached-user" });
    const before = idp.snapshot();
    for (const scheme of ["bearer", "BEARER", "Bearer"]) {
      const exchange = fakeExchange({ headers: { authorization: `${scheme} ${jwt}` } });
      expect((await layer.handle(exchange, fixedNext())).status).toBe(200);
    }
    const after = idp.snapshot();
    expect(after.verifications - before.verifications).toBe(1);
    expect(after.cacheHits - before.cacheHits).toBe(2);
  });

  it("judges each request by its own header when a client's header repeats or changes", async () => {
    const { layer } = layerWith();
    const good = `Bearer ${await token({ sub: "repeat-user" })}`;
    const other = `Bearer ${await token({ sub: "other-user" })}`;
    const [head, payload] = (await token()).split(".");
    const forged = `Bearer ${head}.${payload}.AAAA`;
    const malformed = "Bearer a b";
    const outcomes: (number | string | undefined)[] = [];
    for (const authorization of [good, good, forged, forged, good, other, malformed, malformed, good]) {
      const exchange = fakeExchange({ headers: { authorization } });
      const response = await layer.handle(exchange, fixedNext());
      outcomes.push(response.status === 200 ? exchange.identity?.subject : response.status);
    }
    expect(outcomes).toEqual([
      "repeat-user",
      "repeat-user",
      401,
      401,
      "repeat-user",
      "other-user",
      401,
      401,
      "repeat-user",
    ]);
  });

  it("answers 401 with a bare challenge when no credentials are sent", async () => {
    const { layer, logger } = layerWith();
    for (const headers of [{}, { authorization: "Basic dXNlcjpwYXNz" }]) {
      const next = fixedNext();
      const response = await layer.handle(fakeExchange({ headers, routeId: "orders" }), next);
      expect(next.calls).toBe(0);
      expect(response.status).toBe(401);
      expect(response.headers["www-authenticate"]).toBe('Bearer realm="flotilla"');
      expect(response.headers["content-type"]).toBe("application/problem+json");
      expect(problem(response)).toMatchObject({ status: 401, code: GatewayErrorCode.Unauthorized });
    }
    expect(logger.infos[0]).toMatchObject({
      route: "orders",
      reason: "missing credentials",
      clientIp: "127.0.0.1",
    });
  });

  it("answers 401 invalid_request for a malformed bearer header", async () => {
    const { layer } = layerWith();
    for (const authorization of ["Bearer", "Bearer ", "Bearer a b", "Bearer a\tb", "Bearer ab=c"]) {
      const response = await layer.handle(fakeExchange({ headers: { authorization } }), fixedNext());
      expect(response.status).toBe(401);
      expect(response.headers["www-authenticate"]).toBe(
        'Bearer realm="flotilla", error="invalid_request", error_description="malformed authorization header"',
      );
    }
  });

  it("answers 401 invalid_token naming the reason, and logs it without the token", async () => {
    const { layer, logger } = layerWith();
    const expired = await token({ exp: Math.floor(now / 1000) - 3600 });
    const response = await layer.handle(
      fakeExchange({
        headers: { authorization: `Bearer ${expired}` },
        routeId: "orders",
        clientIp: "203.0.113.7",
      }),
      fixedNext(),
    );
    expect(response.status).toBe(401);
    expect(response.headers["www-authenticate"]).toBe(
      'Bearer realm="flotilla", error="invalid_token", error_description="expired"',
    );
    expect(problem(response)).toMatchObject({ detail: "invalid token: expired" });
    expect(logger.infos).toEqual([
      { route: "orders", reason: "expired", clientIp: "203.0.113.7", requestId: "req-1" },
    ]);
    expect(JSON.stringify(logger.infos)).not.toContain(expired.split(".")[2]);
  });

  it("lets anonymous requests through when optional, but still refuses bad credentials", async () => {
    const { layer } = layerWith({ optional: true });
    const exchange = fakeExchange();
    const next = fixedNext();
    expect((await layer.handle(exchange, next)).status).toBe(200);
    expect(next.calls).toBe(1);
    expect(exchange.identity).toBeUndefined();
    expect(exchange.upstreamHeaders).toEqual({});
    const forged = `${(await token()).slice(0, -4)}AAAA`;
    const refused = await layer.handle(
      fakeExchange({ headers: { authorization: `Bearer ${forged}` } }),
      next,
    );
    expect(refused.status).toBe(401);
    expect(problem(refused)).toMatchObject({ detail: "invalid token: bad signature" });
    expect(next.calls).toBe(1);
  });

  it("picks the provider by issuer when a route accepts several", async () => {
    const { layer } = layerWith({ methods: ["idp", "partner"] });
    const partnerToken = await token({ sub: "partner-user" }, otherKey);
    const exchange = fakeExchange({ headers: { authorization: `Bearer ${partnerToken}` } });
    expect((await layer.handle(exchange, fixedNext())).status).toBe(200);
    expect(exchange.identity?.subject).toBe("partner-user");
    const stranger = await signToken(key, { iss: "https://evil.test/", aud: audience, sub: "x" }, now);
    const refused = await layer.handle(
      fakeExchange({ headers: { authorization: `Bearer ${stranger}` } }),
      fixedNext(),
    );
    expect(problem(refused)).toMatchObject({ detail: "invalid token: wrong issuer" });
  });

  it("refuses a token of a provider the route does not accept", async () => {
    const { layer } = layerWith({ methods: ["idp"] });
    const partnerToken = await token({}, otherKey);
    const response = await layer.handle(
      fakeExchange({ headers: { authorization: `Bearer ${partnerToken}` } }),
      fixedNext(),
    );
    expect(response.status).toBe(401);
  });

  it("removes the credential from the upstream request with hideCredentials", async () => {
    const { layer } = layerWith({ hideCredentials: true });
    const exchange = fakeExchange({ headers: { authorization: `Bearer ${await token()}` } });
    await layer.handle(exchange, fixedNext());
    expect(exchange.upstreamHeaders.authorization).toBeNull();
  });

  it("percent-encodes identity header values that are not plain visible ASCII", async () => {
    const { layer } = layerWith();
    const jwt = await token({ sub: "José\r\nx-admin: 1", azp: "50%", roles: ["a,b", "c"], scope: "x" });
    const exchange = fakeExchange({ headers: { authorization: `Bearer ${jwt}` } });
    await layer.handle(exchange, fixedNext());
    expect(exchange.upstreamHeaders["x-flotilla-subject"]).toBe("Jos%C3%A9%0D%0Ax-admin%3A%201");
    expect(exchange.upstreamHeaders["x-flotilla-consumer"]).toBe("50%25");
    expect(exchange.upstreamHeaders["x-flotilla-roles"]).toBe("a%2Cb,c");
    expect(decodeURIComponent(exchange.upstreamHeaders["x-flotilla-subject"]!)).toBe("José\r\nx-admin: 1");
  });
});

describe("authenticationLayer with API keys", () => {
  it("authenticates a valid key", async () => {
    const { layer } = layerWith({ methods: ["api-key"] });
    const exchange = fakeExchange({ headers: { "x-api-key": apiKey } });
    expect((await layer.handle(exchange, fixedNext())).status).toBe(200);
    expect(exchange.identity).toMatchObject({ subject: "batch", method: "api-key" });
    expect(exchange.upstreamHeaders).toMatchObject({
      "x-flotilla-subject": "batch",
      "x-flotilla-roles": "billing",
      "x-flotilla-scopes": "invoices:write",
      "x-flotilla-auth": "api-key",
    });
  });

  it("refuses an unknown or repeated key and asks for one when missing", async () => {
    const { layer, logger } = layerWith({ methods: ["api-key"] });
    for (const value of ["wrong", [apiKey, apiKey]]) {
      const response = await layer.handle(fakeExchange({ headers: { "x-api-key": value } }), fixedNext());
      expect(response.status).toBe(401);
      expect(problem(response)).toMatchObject({ detail: "invalid api key" });
      expect(response.headers["www-authenticate"]).toBe('ApiKey realm="flotilla"');
    }
    expect(logger.infos[0]).toMatchObject({ reason: "invalid api key" });
    expect(JSON.stringify(logger.infos)).not.toContain(apiKey);
    const missing = await layer.handle(fakeExchange(), fixedNext());
    expect(missing.status).toBe(401);
    expect(problem(missing)).toMatchObject({ detail: "credentials required" });
  });

  it("prefers a bearer token when a route accepts both, and offers both challenges", async () => {
    const { layer } = layerWith({ methods: ["idp", "api-key"], hideCredentials: true });
    const exchange = fakeExchange({
      headers: { authorization: `Bearer ${await token()}`, "x-api-key": "wrong" },
    });
    expect((await layer.handle(exchange, fixedNext())).status).toBe(200);
    expect(exchange.identity?.method).toBe("jwt");
    const byKey = fakeExchange({ headers: { "x-api-key": apiKey } });
    expect((await layer.handle(byKey, fixedNext())).status).toBe(200);
    expect(byKey.upstreamHeaders["x-api-key"]).toBeNull();
    const missing = await layer.handle(fakeExchange(), fixedNext());
    expect(missing.headers["www-authenticate"]).toEqual([
      'Bearer realm="flotilla"',
      'ApiKey realm="flotilla"',
    ]);
  });
});

describe("authenticationLayer configuration", () => {
  it.each([
    [{ methods: ["nope"] }, /no JWT provider "nope"/],
    [{ methods: ["toString"] }, /no JWT provider "toString"/],
    [{ methods: ["api-key"], apiKeys: undefined }, /needs API keys/],
    [{ methods: [] }, /methods/],
    [{ realm: 'a"b' }, /realm/],
  ])("refuses %j", (patch, message) => {
    expect(() => layerWith(patch as Partial<AuthenticationLayerOptions>)).toThrow(message);
  });
});
