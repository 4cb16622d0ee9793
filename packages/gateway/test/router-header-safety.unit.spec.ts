import { describe, expect, it } from "vitest";
import { isValidHeaderValue, isValidToken } from "../src/router/header-safety.js";

describe("isValidToken", () => {
  it.each(["GET", "x-request-id", "X_Custom.1", "!#$%&'*+-.^_`|~", "a"])("accepts %j", (value) => {
    expect(isValidToken(value)).toBe(true);
  });

  it.each(["", "a b", "a:b", "a\r\nb", "a\u0000", "é", "(x)", "a/b", "a,b", "a\tb", '"q"', "{x}"])(
    "rejects %j",
    (value) => {
      expect(isValidToken(value)).toBe(false);
    },
  );
});

describe("isValidHeaderValue", () => {
  it.each(["", "text/html; q=0.9", "a\tb", "Bearer x.y.z", "caf\u00e9", "~!@#$%^&*()"])(
    "accepts %j",
    (value) => {
      expect(isValidHeaderValue(value)).toBe(true);
    },
  );

  it.each([
    "a\r\nX-Evil: 1",
    "a\rb",
    "a\nb",
    "a\u0000b",
    "a\u007fb",
    "a\u0001",
    " leading",
    "trailing ",
    "\ttab",
    " ",
    "\u0100",
    "\u{1F600}",
  ])("rejects %j", (value) => {
    expect(isValidHeaderValue(value)).toBe(false);
  });
});
