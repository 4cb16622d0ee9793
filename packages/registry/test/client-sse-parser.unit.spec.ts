import { describe, expect, it } from "vitest";
import { type SseEvent, SseParser } from "../src/client/sse-parser.js";

function parse(chunks: readonly (string | Uint8Array)[]): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = new SseParser((event) => events.push(event));
  for (const chunk of chunks) parser.push(chunk);
  parser.end();
  return events;
}

describe("SseParser", () => {
  it("dispatches typed events with their id, skipping comments", () => {
    const text =
      ': ping\n\nevent: snapshot\nid: 7\ndata: {"index":7}\n\n: ping\n\nevent: update\nid: 8\ndata: {"index":8}\n\n';
    expect(parse([text])).toEqual([
      { type: "snapshot", data: '{"index":7}', lastEventId: "7" },
      { type: "update", data: '{"index":8}', lastEventId: "8" },
    ]);
  });

  it("joins multi-line data, defaults the type to message and carries the id over", () => {
    const text = "id: 3\ndata: a\ndata:b\ndata\n\ndata: c\n\n";
    expect(parse([text])).toEqual([
      { type: "message", data: "a\nb\n", lastEventId: "3" },
      { type: "message", data: "c", lastEventId: "3" },
    ]);
  });

  it("accepts CRLF and CR line ends, also split between chunks", () => {
    expect(parse(["event: x\r", "\ndata: 1\r\n\r", "\ndata: 2\r\rdata: 3\n", "\n"])).toEqual([
      { type: "x", data: "1", lastEventId: "" },
      { type: "message", data: "2", lastEventId: "" },
      { type: "message", data: "3", lastEventId: "" },
    ]);
  });

  it("decodes UTF-8 split inside a character, and drops a leading BOM", () => {
    const bytes = new TextEncoder().encode("\uFEFFdata: héllo ✓\n\n");
    const chunks = Array.from(bytes, (b) => Uint8Array.of(b));
    expect(parse(chunks)).toEqual([{ type: "message", data: "héllo ✓", lastEventId: "" }]);
  });

  it("handles one event split over many chunks at every position", () => {
    const text = 'event: update\nid: 42\ndata: {"instances":[1,2,3]}\n\n';
    for (let cut = 1; cut < text.length; cut++) {
      expect(parse([text.slice(0, cut), text.slice(cut)])).toEqual([
        { type: "update", data: '{"instances":[1,2,3]}', lastEventId: "42" },
      ]);
    }
  });

  it("drops an event cut off by the end of the stream, and ignores blank lines without data", () => {
    expect(parse(["\n\nevent: lonely\n\ndata: partial"])).toEqual([]);
  });

  it("ignores an id containing NUL and unknown fields", () => {
    expect(parse(["id: 1\nretry: 10\nfoo: bar\nid: a\u0000b\ndata: x\n\n"])).toEqual([
      { type: "message", data: "x", lastEventId: "1" },
    ]);
  });

  it("ends a line at a CR closing a chunk, whatever the next chunk starts with", () => {
    expect(parse(["data: a\r", "\r", "data: b\r", "\n\r", "\n"])).toEqual([
      { type: "message", data: "a", lastEventId: "" },
      { type: "message", data: "b", lastEventId: "" },
    ]);
  });

  it("joins a line split over many chunks, keeping no reference to a chunk the caller reuses", () => {
    const bytes = new TextEncoder().encode(`id: 5\ndata: ${"x".repeat(100)}\n\n`);
    const events: SseEvent[] = [];
    const parser = new SseParser((event) => events.push(event));
    const reused = new Uint8Array(7);
    for (let at = 0; at < bytes.length; at += reused.length) {
      const piece = bytes.subarray(at, at + reused.length);
      reused.set(piece);
      parser.push(reused.subarray(0, piece.length));
      reused.fill(0x3f);
    }
    expect(events).toEqual([{ type: "message", data: "x".repeat(100), lastEventId: "5" }]);
  });

  it("drops a last line without its line end", () => {
    const events: SseEvent[] = [];
    const parser = new SseParser((event) => events.push(event));
    parser.push("data: a\n\nid: 9");
    parser.end();
    expect(events).toEqual([{ type: "message", data: "a", lastEventId: "" }]);
    expect(parser.lastEventId).toBe("");
  });
});
