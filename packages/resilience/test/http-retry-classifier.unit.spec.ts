import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BreakerOpenError, ConfigError, TimeoutError } from "../src/errors.js";
import {
  defaultRetryableNetworkCodes,
  httpRetryClassifier,
  isRetryableHttp,
} from "../src/retry/http-retry-classifier.js";
import { Retry } from "../src/retry/retry.js";
import { FakeClock } from "../src/testing/index.js";

const coded = (code: string) => Object.assign(new Error(code), { code });

describe("httpRetryClassifier", () => {
  it.each([
    "ECONNRESET",
    "ECONNREFUSED",
    "ETIMEDOUT",
    "EPIPE",
    "EAI_AGAIN",
    "UND_ERR_SOCKET",
    "UND_ERR_CONNECT_TIMEOUT",
    "UND_ERR_HEADERS_TIMEOUT",
  ])("retries the network error %s", (code) => {
    expect(isRetryableHttp(coded(code))).toBe(true);
  });

  it("does not retry ENOTFOUND unless networkCodes lists it", () => {
    expect(isRetryableHttp(coded("ENOTFOUND"))).toBe(false);
    expect(
      isRetryableHttp(coded("ENOTFOUND"), { networkCodes: [...defaultRetryableNetworkCodes, "ENOTFOUND"] }),
    ).toBe(true);
  });

  it("finds the code in fetch's cause chain and in an AggregateError", () => {
    const fetchFailed = new TypeError("fetch failed", { cause: coded("UND_ERR_SOCKET") });
    expect(isRetryableHttp(fetchFailed)).toBe(true);
    const happyEyeballs = new AggregateError(
      [coded("ECONNREFUSED"), coded("ECONNREFUSED")],
      "connect failed",
    );
    expect(isRetryableHttp(new TypeError("fetch failed", { cause: happyEyeballs }))).toBe(true);
    expect(isRetryableHttp(new TypeError("fetch failed", { cause: new Error("bad certificate") }))).toBe(
      false,
    );
  });

  it("retries 429, 502, 503 and 504", () => {
    for (const status of [429, 502, 503, 504]) expect(isRetryableHttp({ status }), String(status)).toBe(true);
  });

  it("never retries another 4xx (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 400, max: 499 }).filter((s) => s !== 429),
        (status) => {
          expect(isRetryableHttp({ status })).toBe(false);
          expect(isRetryableHttp({ status }, { retry500: true })).toBe(false);
          expect(isRetryableHttp({ status }, { retry409: true })).toBe(status === 409);
        },
      ),
    );
  });

  it("retries 409 only when asked", () => {
    expect(isRetryableHttp({ status: 409 })).toBe(false);
    expect(isRetryableHttp({ status: 409 }, { retry409: true })).toBe(true);
  });

  it("does not retry 500 by default, and does with retry500", () => {
    expect(isRetryableHttp({ status: 500 })).toBe(false);
    expect(isRetryableHttp({ status: 500 }, { retry500: true })).toBe(true);
  });

  it("does not retry success, redirects or the other 5xx", () => {
    for (const status of [200, 204, 301, 304, 501, 505])
      expect(isRetryableHttp({ status }), String(status)).toBe(false);
  });

  it("reads status and statusCode of errors, responses and an error's response", () => {
    expect(isRetryableHttp(Object.assign(new Error("upstream"), { statusCode: 503 }))).toBe(true);
    expect(isRetryableHttp(Object.assign(new Error("not found"), { status: 404, code: "ECONNRESET" }))).toBe(
      false,
    );
    expect(isRetryableHttp(new Response(null, { status: 503 }))).toBe(true);
    expect(isRetryableHttp({ status: 200, headers: {} })).toBe(false);
    expect(isRetryableHttp(Object.assign(new Error("got"), { response: { statusCode: 502 } }))).toBe(true);
    expect(isRetryableHttp(Object.assign(new Error("axios"), { response: { status: 400 } }))).toBe(false);
  });

  it("retries timeouts of an idempotent request", () => {
    expect(isRetryableHttp(new TimeoutError(100))).toBe(true);
    expect(isRetryableHttp(new DOMException("signal timed out", "TimeoutError"))).toBe(true);
  });

  it("does not retry errors it does not recognise", () => {
    expect(isRetryableHttp(new Error("boom"))).toBe(false);
    expect(isRetryableHttp(new BreakerOpenError("api", "OPEN", 10))).toBe(false);
    expect(isRetryableHttp(undefined)).toBe(false);
    expect(isRetryableHttp("ECONNRESET")).toBe(false);
  });

  it("retries a request that is not idempotent only when the server cannot have acted", () => {
    const options = { idempotent: false, retry500: true };
    expect(isRetryableHttp(coded("ECONNREFUSED"), options)).toBe(true);
    expect(isRetryableHttp(coded("UND_ERR_CONNECT_TIMEOUT"), options)).toBe(true);
    expect(isRetryableHttp({ status: 429 }, options)).toBe(true);
    expect(isRetryableHttp({ status: 503 }, options)).toBe(true);
    expect(isRetryableHttp(coded("ECONNRESET"), options)).toBe(false);
    expect(isRetryableHttp(coded("UND_ERR_HEADERS_TIMEOUT"), options)).toBe(false);
    expect(isRetryableHttp(new TimeoutError(100), options)).toBe(false);
    for (const status of [500, 502, 504])
      expect(isRetryableHttp({ status }, options), String(status)).toBe(false);
  });

  it("works as retryOn and retryOnResult of a retry, honouring Retry-After", async () => {
    const clock = new FakeClock();
    const policy = new Retry({ clock, maxAttempts: 4, backoff: 10, ...httpRetryClassifier() });
    const outcomes = [
      () => Promise.reject(coded("ECONNRESET")),
      () => Promise.resolve(new Response(null, { status: 503, headers: { "retry-after": "2" } })),
      () => Promise.resolve(new Response("ok", { status: 200 })),
    ];
    let calls = 0;
    const result = policy.execute(() => outcomes[calls++]!());
    await clock.advance(10);
    expect(calls).toBe(2);
    await clock.advance(1999);
    expect(calls).toBe(2);
    await clock.advance(1);
    expect((await result).status).toBe(200);
    expect(calls).toBe(3);
    expect(clock.pendingTimers).toBe(0);
  });

  it("rejects bad options with their paths", () => {
    try {
      httpRetryClassifier({ retry500: "yes", networkCodes: "ECONNRESET", retry502: true } as never);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual([
        "retry502",
        "retry500",
        "networkCodes",
      ]);
    }
  });
});
