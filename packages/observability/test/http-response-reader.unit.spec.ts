import { describe, expect, it } from "vitest";
import {
  type HttpResponse,
  HttpResponseError,
  HttpResponseReader,
} from "../src/tracing/http-response-reader.js";

/** Feeds `text` to a new reader in pieces of `step` bytes; returns the response and the bytes it took. */
function read(text: string | Buffer, step = Number.MAX_SAFE_INTEGER, options = {}): HttpResponse | undefined {
  const bytes = typeof text === "string" ? Buffer.from(text, "latin1") : text;
  const reader = new HttpResponseReader(options);
  for (let at = 0; at < bytes.length; at += step) {
    const response = reader.push(bytes.subarray(at, at + step));
    if (response !== undefined) return response;
  }
  return undefined;
}

describe("HttpResponseReader", () => {
  it("reads a Content-Length body, split at every byte or in one piece", () => {
    const wire = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 5\r\n\r\nhello";
    for (const step of [1, 3, wire.length]) {
      const response = read(wire, step);
      expect(response?.status).toBe(200);
      expect(response?.reason).toBe("OK");
      expect(response?.body.toString()).toBe("hello");
      expect(response?.headers.get("content-type")).toBe("application/x-protobuf");
      expect(response?.reusable).toBe(true);
    }
  });

  it("waits for the whole body", () => {
    const reader = new HttpResponseReader();
    expect(reader.push(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab"))).toBeUndefined();
    expect(reader.push(Buffer.from("cd"))?.body.toString()).toBe("abcd");
  });

  it("decodes a chunked body with extensions and trailers", () => {
    const wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0A\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
    for (const step of [1, 7, wire.length]) {
      const response = read(wire, step);
      expect(response?.body.toString()).toBe("abc0123456789");
      expect(response?.reusable).toBe(true);
    }
  });

  it("skips an interim 100 Continue and reads the final response", () => {
    const response = read("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
    expect(response?.status).toBe(204);
    expect(response?.body.length).toBe(0);
  });

  it("joins repeated headers and lower-cases names", () => {
    const response = read("HTTP/1.1 200 OK\r\nVary: a\r\nVARY: b\r\nContent-Length: 0\r\n\r\n");
    expect(response?.headers.get("vary")).toBe("a, b");
  });

  it("marks the connection not reusable on Connection: close, HTTP/1.0 or bytes left over", () => {
    expect(read("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")?.reusable).toBe(false);
    expect(read("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")?.reusable).toBe(false);
    expect(read("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab")?.reusable).toBe(false);
    expect(read("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")?.reusable).toBe(
      true,
    );
  });

  it("reads the server's Keep-Alive timeout hint", () => {
    expect(read("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n")?.keepAliveMs).toBe(
      5000,
    );
    expect(
      read("HTTP/1.1 200 OK\r\nKeep-Alive: max=10, timeout=2\r\nContent-Length: 0\r\n\r\n")?.keepAliveMs,
    ).toBe(2000);
    expect(read("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")?.keepAliveMs).toBeUndefined();
  });

  it("reads a body delimited by the end of the connection", () => {
    const reader = new HttpResponseReader();
    expect(reader.push(Buffer.from("HTTP/1.1 200 OK\r\n\r\npart one, "))).toBeUndefined();
    expect(reader.push(Buffer.from("part two"))).toBeUndefined();
    const response = reader.end();
    expect(response.body.toString()).toBe("part one, part two");
    expect(response.reusable).toBe(false);
  });

  it("ignores the body headers of a response to HEAD", () => {
    expect(
      read("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", undefined, { noBody: true })?.body.length,
    ).toBe(0);
  });

  it("reports a connection closed before or inside a response", () => {
    expect(() => new HttpResponseReader().end()).toThrow("before any response");
    const inHead = new HttpResponseReader();
    inHead.push(Buffer.from("HTTP/1.1 200 OK\r\nContent-"));
    expect(inHead.started).toBe(true);
    expect(() => inHead.end()).toThrow("inside the response head");
    const inBody = new HttpResponseReader();
    inBody.push(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
    expect(() => inBody.end()).toThrow("before the response body was complete");
  });

  it.each([
    ["a status line that is not HTTP/1.x", "HTTP/2 200\r\n\r\n", "not an HTTP/1.x status line"],
    ["a header line without a colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", "malformed response header line"],
    [
      "a non-numeric Content-Length",
      "HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n",
      "invalid Content-Length",
    ],
    [
      "two Content-Length values",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "invalid Content-Length",
    ],
    [
      "both Transfer-Encoding and Content-Length",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
      "both Transfer-Encoding and Content-Length",
    ],
    [
      "a bad chunk size",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "malformed chunk size line",
    ],
    [
      "a chunk not followed by CRLF",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n",
      "not followed by CRLF",
    ],
  ])("rejects %s", (_name, wire, message) => {
    expect(() => read(wire)).toThrow(HttpResponseError);
    expect(() => read(wire)).toThrow(message);
  });

  it("limits the head and the body", () => {
    const longHead = `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(200)}\r\n\r\n`;
    expect(() => read(longHead, 10, { maxHeadBytes: 100 })).toThrow("response head exceeds 100 bytes");
    expect(() => read(longHead, longHead.length, { maxHeadBytes: 100 })).toThrow(
      "response head exceeds 100 bytes",
    );
    expect(() =>
      read("HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", undefined, { maxBodyBytes: 100 }),
    ).toThrow("response body exceeds 100 bytes");
    const chunked = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n${"b".repeat(128)}`;
    expect(() => read(chunked, undefined, { maxBodyBytes: 100 })).toThrow("response body exceeds 100 bytes");
    const closeDelimited = `HTTP/1.1 200 OK\r\n\r\n${"c".repeat(101)}`;
    expect(() => read(closeDelimited, undefined, { maxBodyBytes: 100 })).toThrow(
      "response body exceeds 100 bytes",
    );
  });
});
