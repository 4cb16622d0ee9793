import { describe, expect, it } from "vitest";
import { mergeResponseHeaders, mergeVary } from "../src/chain/merge-response-headers.js";
import { responseHeaderList } from "../src/proxy/proxy-attempt.js";

describe("mergeResponseHeaders", () => {
  it("replaces upstream headers with the layers' ones but merges Vary", () => {
    const headers: Record<string, string | string[]> = { vary: "Accept-Encoding", "x-a": "upstream" };
    mergeResponseHeaders(headers, { vary: "Origin", "x-a": "layer" });
    expect(headers).toEqual({ vary: "Accept-Encoding, Origin", "x-a": "layer" });
  });

  it("does not repeat a field name already varied on", () => {
    expect(mergeVary(["Origin", "accept-encoding"], "origin, Accept-Encoding")).toBe(
      "Origin, accept-encoding",
    );
  });

  it("merges Vary in the flat header list written for streamed answers", () => {
    const raw = ["Vary", "Accept-Encoding", "Content-Type", "text/plain"];
    expect(responseHeaderList(raw, { vary: "Origin" })).toEqual([
      "Content-Type",
      "text/plain",
      "vary",
      "Accept-Encoding, Origin",
    ]);
  });
});
