import { describe, expect, it } from "vitest";
import { type AuthorizationLayerOptions, authorizationLayer } from "../src/auth/authorization-layer.js";
import { GatewayErrorCode } from "../src/chain/gateway-error.js";
import type { GatewayResponse } from "../src/chain/gateway-response.js";
import type { Identity } from "../src/chain/identity.js";
import { fakeExchange, fixedNext } from "./fixtures/exchange.js";

function identity(roles: string[], scopes: string[] = []): Identity {
  return { subject: "u", consumer: "c", roles, scopes, method: "jwt", claims: {} };
}

async function run(options: AuthorizationLayerOptions, who: Identity | undefined) {
  const next = fixedNext();
  const response = await authorizationLayer(options).handle(fakeExchange({ identity: who }), next);
  return { response, next };
}

function problem(response: GatewayResponse): Record<string, unknown> {
  return JSON.parse(response.body!.toString()) as Record<string, unknown>;
}

describe("authorizationLayer", () => {
  it("answers 401 without an identity", async () => {
    const { response, next } = await run({}, undefined);
    expect(authorizationLayer({}).name).toBe("authorization");
    expect(response.status).toBe(401);
    expect(next.calls).toBe(0);
    expect(response.headers["www-authenticate"]).toBe('Bearer realm="flotilla"');
    expect(problem(response)).toMatchObject({ code: GatewayErrorCode.Unauthorized });
  });

  it("lets any identity through when no rule is set", async () => {
    const { response, next } = await run({}, identity([]));
    expect(response.status).toBe(200);
    expect(next.calls).toBe(1);
  });

  it("requires any one of roles", async () => {
    expect((await run({ roles: ["admin", "ops"] }, identity(["ops"]))).response.status).toBe(200);
    const one = await run({ roles: ["admin"] }, identity(["viewer"]));
    expect(one.response.status).toBe(403);
    expect(one.next.calls).toBe(0);
    expect(one.response.headers["www-authenticate"]).toBeUndefined();
    expect(problem(one.response)).toMatchObject({
      status: 403,
      code: GatewayErrorCode.Forbidden,
      detail: "requires role admin",
    });
    const several = await run({ roles: ["admin", "ops"] }, identity([]));
    expect(problem(several.response)).toMatchObject({ detail: "requires one of roles admin, ops" });
  });

  it("requires every one of allRoles, naming the first missing", async () => {
    expect((await run({ allRoles: ["a", "b"] }, identity(["b", "a", "c"]))).response.status).toBe(200);
    const missing = await run({ allRoles: ["a", "b"] }, identity(["a"]));
    expect(missing.response.status).toBe(403);
    expect(problem(missing.response)).toMatchObject({ detail: "requires role b" });
  });

  it("requires every scope, with an insufficient_scope challenge", async () => {
    const rules = { scopes: ["orders:read", "orders:write"] };
    expect((await run(rules, identity([], ["orders:write", "orders:read"]))).response.status).toBe(200);
    const { response } = await run(rules, identity(["admin"], ["orders:read"]));
    expect(response.status).toBe(403);
    expect(problem(response)).toMatchObject({
      code: GatewayErrorCode.Forbidden,
      detail: "requires scope orders:write",
    });
    expect(response.headers["www-authenticate"]).toBe(
      'Bearer realm="flotilla", error="insufficient_scope", error_description="insufficient scope", scope="orders:read orders:write"',
    );
  });

  it("checks every kind of rule together", async () => {
    const rules = { roles: ["admin"], allRoles: ["staff"], scopes: ["x"] };
    expect((await run(rules, identity(["admin", "staff"], ["x"]))).response.status).toBe(200);
    expect((await run(rules, identity(["admin"], ["x"]))).response.status).toBe(403);
    expect((await run(rules, identity(["staff"], ["x"]))).response.status).toBe(403);
    expect((await run(rules, identity(["admin", "staff"], []))).response.status).toBe(403);
  });

  it.each([
    [{ roles: [] }, /roles/],
    [{ scopes: ['a"b'] }, /scope token/],
    [{ scopes: ["a b"] }, /scope token/],
    [{ role: ["admin"] }, /role/],
  ])("refuses the configuration %j", (options, message) => {
    expect(() => authorizationLayer(options as AuthorizationLayerOptions)).toThrow(message);
  });
});
