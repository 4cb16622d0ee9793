import { describe, expect, it } from "vitest";
import { controlFrame, encodeFrame, FrameKind, FrameReader, type FrameSink } from "../src/wire/wire-frame.js";

interface Seen {
  frames: [number, number, string, string][];
  oversize: [number, number, number][];
  malformed: string[];
}

function reader(max = 1_000): { reader: FrameReader; seen: Seen } {
  const seen: Seen = { frames: [], oversize: [], malformed: [] };
  const sink: FrameSink = {
    frame: (kind, id, head, body) => seen.frames.push([kind, id, head, body]),
    oversize: (kind, id, bytes) => seen.oversize.push([kind, id, bytes]),
    malformed: (reason) => seen.malformed.push(reason),
  };
  return { reader: new FrameReader(max, sink), seen };
}

describe("wire frames", () => {
  it("round-trips frames with UTF-8 heads and bodies, whole or byte by byte", () => {
    const frames = Buffer.concat([
      encodeFrame(FrameKind.Request, 1, '{"r":"get","p":"/ü"}', '{"name":"Zoë 🚀"}'),
      encodeFrame(FrameKind.Response, 0xffff_ffff, '{"s":204}', undefined),
      controlFrame(FrameKind.Cancel, 7),
    ]);
    const expected = [
      [1, 1, '{"r":"get","p":"/ü"}', '{"name":"Zoë 🚀"}'],
      [2, 0xffff_ffff, '{"s":204}', ""],
      [3, 7, "", ""],
    ];
    const whole = reader();
    whole.reader.push(frames);
    expect(whole.seen.frames).toEqual(expected);
    const bytewise = reader();
    for (let i = 0; i < frames.length; i++) bytewise.reader.push(frames.subarray(i, i + 1));
    expect(bytewise.seen.frames).toEqual(expected);
  });

  it("skips a frame over the limit without keeping it, reports its id, and reads the next", () => {
    const { reader: r, seen } = reader(100);
    const big = encodeFrame(FrameKind.Request, 5, "{}", "x".repeat(500));
    const next = encodeFrame(FrameKind.Request, 6, "{}", "ok");
    const stream = Buffer.concat([big, next]);
    for (let i = 0; i < stream.length; i += 37) r.push(stream.subarray(i, i + 37));
    expect(seen.oversize).toEqual([[1, 5, big.length]]);
    expect(seen.frames).toEqual([[1, 6, "{}", "ok"]]);
  });

  it("reports bytes that cannot be a frame and reads nothing after them", () => {
    const short = reader();
    const bad = Buffer.alloc(13);
    bad.writeUInt32BE(3, 0);
    short.reader.push(Buffer.concat([bad, encodeFrame(FrameKind.Request, 1, "{}", undefined)]));
    expect(short.seen.malformed).toEqual(["a frame of length 3, shorter than its fixed fields"]);
    expect(short.seen.frames).toEqual([]);

    const longHead = reader();
    const frame = encodeFrame(FrameKind.Request, 1, "{}", "body");
    frame.writeUInt32BE(50, 9);
    longHead.reader.push(frame);
    expect(longHead.seen.malformed[0]).toMatch(/a head of 50 bytes/);
  });
});
