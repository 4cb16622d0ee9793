import { describe, expect, it } from "vitest";
import { RateLimitedError } from "../src/errors.js";
import { parseHttpDate, parseRetryAfter, readHeader, retryAfterFrom } from "../src/retry/retry-after.js";

const rfcExample = Date.UTC(1994, 10, 6, 8, 49, 37);

describe("parseRetryAfter", () => {
  it("reads delay-seconds as milliseconds", () => {
    expect(parseRetryAfter("120")).toBe(120_000);
    expect(parseRetryAfter(" 0 ")).toBe(0);
  });

  it("reads an HTTP-date as the time from now, in all three forms of RFC 9110 §5.6.7", () => {
    const now = rfcExample - 5000;
    expect(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now)).toBe(5000);
    expect(parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now)).toBe(5000);
    expect(parseRetryAfter("Sun Nov  6 08:49:37 1994", now)).toBe(5000);
  });

  it("treats a date in the past as no wait", () => {
    expect(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", rfcExample + 60_000)).toBe(0);
  });

  it("ignores malformed values", () => {
    for (const value of [
      "",
      "-5",
      "1.5",
      "soon",
      "Sun, 31 Feb 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 25:00:00 GMT",
    ]) {
      expect(parseRetryAfter(value, rfcExample), value).toBeUndefined();
    }
  });

  it("reads a two-digit RFC 850 year as the most recent past century when it would be more than 50 years ahead", () => {
    const in2030 = Date.UTC(2030, 0, 1);
    expect(new Date(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", in2030)!).getUTCFullYear()).toBe(1994);
    expect(new Date(parseHttpDate("Monday, 06-Nov-45 08:49:37 GMT", in2030)!).getUTCFullYear()).toBe(2045);
  });
});

describe("retryAfterFrom", () => {
  const now = () => rfcExample - 2000;

  it("reads the header from a plain object, case-insensitively and from repeated values", () => {
    expect(retryAfterFrom({ headers: { "retry-after": "3" } })).toBe(3000);
    expect(retryAfterFrom({ headers: { "Retry-After": "4" } })).toBe(4000);
    expect(retryAfterFrom({ headers: { "retry-after": ["5", "9"] } })).toBe(5000);
    expect(retryAfterFrom({ status: 503, headers: { "retry-after": 6 } })).toBe(6000);
  });

  it("reads the header from a fetch Headers instance, a get(name) object and a lookup function", () => {
    expect(retryAfterFrom(new Response(null, { status: 503, headers: { "Retry-After": "7" } }))).toBe(7000);
    expect(retryAfterFrom({ headers: new Map([["retry-after", "8"]]) })).toBe(8000);
    expect(retryAfterFrom({ headers: (name: string) => (name === "retry-after" ? "9" : undefined) })).toBe(
      9000,
    );
  });

  it("reads an HTTP-date on the injected wall clock", () => {
    expect(retryAfterFrom({ headers: { "retry-after": "Sun, 06 Nov 1994 08:49:37 GMT" } }, now)).toBe(2000);
  });

  it("reads errors that carry the response (got, axios)", () => {
    const error = Object.assign(new Error("503"), {
      response: { statusCode: 503, headers: { "retry-after": "2" } },
    });
    expect(retryAfterFrom(error)).toBe(2000);
  });

  it("reads retryAfterMs of Flotilla's errors", () => {
    expect(retryAfterFrom(new RateLimitedError("api", 250))).toBe(250);
  });

  it("finds nothing where nothing is asked", () => {
    expect(retryAfterFrom(new Error("plain"))).toBeUndefined();
    expect(retryAfterFrom({ headers: {} })).toBeUndefined();
    expect(retryAfterFrom({ headers: { "retry-after": "later" } })).toBeUndefined();
    expect(retryAfterFrom(undefined)).toBeUndefined();
    expect(retryAfterFrom("503")).toBeUndefined();
  });
});

describe("readHeader", () => {
  it("returns undefined for things that are not headers", () => {
    expect(readHeader(undefined, "retry-after")).toBeUndefined();
    expect(readHeader(42, "retry-after")).toBeUndefined();
    expect(readHeader({ "retry-after": { nested: true } }, "retry-after")).toBeUndefined();
  });
});
