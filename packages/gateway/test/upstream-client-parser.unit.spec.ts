// The upstream client's incremental HTTP/1.1 response parser, without I/O: framing by
// Content-Length, chunked and connection close; interim responses; strictness (every malformed
// input is an UpstreamClientError FLT_UPSTREAM_BAD_RESPONSE); independence from how the bytes are
// split across execute() calls; and a fuzz property that it never throws anything else.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ResponseParser } from "../src/upstream-client/response-parser.js";
import {
  UpstreamClientError,
  UpstreamClientErrorCode,
} from "../src/upstream-client/upstream-client-error.js";

interface Head {
  status: number;
  headers: string[];
  keepAlive: boolean;
}

interface Outcome {
  heads: Head[];
  body: string;
  /** Each onEnd's `rest` as latin1, null for undefined. */
  ends: (string | null)[];
  /** The order of the callbacks: "head", "body", "end". */
  events: string[];
  error: unknown;
  /** finish()'s result, when asked for and nothing threw. */
  finished: boolean | undefined;
}

const bin = (s: string): Buffer => Buffer.from(s, "latin1");

/** Feeds `pieces` to a fresh parser, one execute() each; stops at the first throw. */
function parse(
  pieces: readonly Buffer[],
  options: {
    noBody?: boolean | undefined;
    finish?: boolean | undefined;
    onBody?: (chunk: Buffer) => void;
  } = {},
): Outcome {
  const out: Outcome = { heads: [], body: "", ends: [], events: [], error: undefined, finished: undefined };
  const bodies: Buffer[] = [];
  const parser = new ResponseParser({
    onHead(status, headers, keepAlive) {
      out.heads.push({ status, headers: [...headers], keepAlive });
      out.events.push("head");
    },
    onBody(chunk) {
      options.onBody?.(chunk);
      bodies.push(Buffer.from(chunk));
      out.events.push("body");
    },
    onEnd(rest) {
      out.ends.push(rest === undefined ? null : rest.toString("latin1"));
      out.events.push("end");
    },
  });
  parser.reset(options.noBody ?? false);
  try {
    for (const piece of pieces) parser.execute(piece);
    if (options.finish === true) out.finished = parser.finish();
  } catch (error) {
    out.error = error;
  }
  out.body = Buffer.concat(bodies).toString("latin1");
  return out;
}

/** The outcome with the body chunks merged: what must not depend on how the input was split. */
function summary(o: Outcome): unknown {
  const events: string[] = [];
  for (const e of o.events) if (!(e === "body" && events.at(-1) === "body")) events.push(e);
  return {
    heads: o.heads,
    body: o.body,
    ends: o.ends,
    events,
    error: errorCode(o.error),
    finished: o.finished,
  };
}

function errorCode(error: unknown): string | undefined {
  if (error === undefined) return undefined;
  return error instanceof UpstreamClientError ? error.code : `not an UpstreamClientError: ${String(error)}`;
}

function expectBadResponse(o: Outcome): void {
  expect(o.error).toBeInstanceOf(UpstreamClientError);
  expect((o.error as Error).name).toBe("UpstreamClientError");
  expect((o.error as UpstreamClientError).code).toBe(UpstreamClientErrorCode.BadResponse);
}

/** Splits `bytes` at the given offsets (sorted, deduplicated, in range). */
function splitAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.min(Math.max(c, 0), bytes.length)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    pieces.push(bytes.subarray(from, p));
    from = p;
  }
  pieces.push(bytes.subarray(from));
  return pieces;
}

interface ValidCase {
  name: string;
  input: string;
  noBody?: boolean;
  /** finish() is called after the input (the connection closed). */
  finish?: boolean;
  status: number;
  headers?: string[];
  keepAlive: boolean;
  body: string;
  ends: (string | null)[];
  finished?: boolean;
}

const validCases: ValidCase[] = [
  {
    name: "Content-Length body",
    input: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  spaced value \t\r\n\r\nhello",
    status: 200,
    headers: ["Content-Length", "5", "X-A", "spaced value"],
    keepAlive: true,
    body: "hello",
    ends: [null],
  },
  {
    name: "status line without a reason phrase",
    input: "HTTP/1.1 404\r\nContent-Length: 2\r\n\r\nno",
    status: 404,
    headers: ["Content-Length", "2"],
    keepAlive: true,
    body: "no",
    ends: [null],
  },
  {
    name: "Content-Length: 0",
    input: "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    status: 200,
    keepAlive: true,
    body: "",
    ends: [null],
  },
  {
    name: "the same Content-Length twice",
    input: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc",
    status: 200,
    keepAlive: true,
    body: "abc",
    ends: [null],
  },
  {
    name: "binary body with CRLFs and NULs",
    input: "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n\r\n\r\n\0\xff\r\n",
    status: 200,
    keepAlive: true,
    body: "\r\n\r\n\0\xff\r\n",
    ends: [null],
  },
  {
    name: "chunked with extensions and trailers",
    input:
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
      '5;name=val\r\nhello\r\n6 ;x="q;uoted"\r\n world\r\nA\r\n0123456789\r\n' +
      "b\t;ext\r\nabcdefghijk\r\n0;last=1\r\nX-Trailer: t\r\nY: z\r\n\r\n",
    status: 200,
    headers: ["Transfer-Encoding", "chunked"],
    keepAlive: true,
    body: "hello world0123456789abcdefghijk",
    ends: [null],
  },
  {
    name: "chunked without trailers, upper-case and zero-padded sizes",
    input:
      "HTTP/1.1 201 Created\r\ntransfer-encoding: gzip, CHUNKED\r\n\r\n00003\r\nabc\r\nF\r\n0123456789abcde\r\n000\r\n\r\n",
    status: 201,
    keepAlive: true,
    body: "abc0123456789abcde",
    ends: [null],
  },
  {
    name: "100 Continue and 103 Early Hints before the final response",
    input:
      "HTTP/1.1 100 Continue\r\n\r\n" +
      "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" +
      "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone",
    status: 200,
    headers: ["Content-Length", "4"],
    keepAlive: true,
    body: "done",
    ends: [null],
  },
  {
    name: "HEAD: no body despite Content-Length",
    input: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
    noBody: true,
    status: 200,
    keepAlive: true,
    body: "",
    ends: [null],
  },
  {
    name: "HEAD: no body despite chunked",
    input: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    noBody: true,
    status: 200,
    keepAlive: true,
    body: "",
    ends: [null],
  },
  {
    name: "204: no body despite Content-Length",
    input: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
    status: 204,
    keepAlive: true,
    body: "",
    ends: [null],
  },
  {
    name: "304: no body despite Content-Length",
    input: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: "x"\r\n\r\n',
    status: 304,
    keepAlive: true,
    body: "",
    ends: [null],
  },
  {
    name: "body until close (no Content-Length, no Transfer-Encoding) ends on finish()",
    input: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this\r\n\r\nuntil the end",
    finish: true,
    status: 200,
    body: "all of this\r\n\r\nuntil the end",
    keepAlive: true,
    ends: [null],
    finished: true,
  },
  {
    name: "HTTP/1.0 response closes the connection",
    input: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    status: 200,
    keepAlive: false,
    body: "hi",
    ends: [null],
  },
  {
    name: "HTTP/1.0 response with Connection: keep-alive keeps it",
    input: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi",
    status: 200,
    keepAlive: true,
    body: "hi",
    ends: [null],
  },
  {
    name: "HTTP/1.0 response without a length reads until close",
    input: "HTTP/1.0 200 OK\r\n\r\nold server",
    finish: true,
    status: 200,
    keepAlive: false,
    body: "old server",
    ends: [null],
    finished: true,
  },
  {
    name: "HTTP/1.1 Connection: close",
    input: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
    status: 200,
    keepAlive: false,
    body: "x",
    ends: [null],
  },
  {
    name: "Transfer-Encoding without chunked: until close, not kept alive",
    input: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabcdefgh",
    finish: true,
    status: 200,
    keepAlive: false,
    body: "abcdefgh",
    ends: [null],
    finished: true,
  },
  {
    name: "Transfer-Encoding chunked, then another Transfer-Encoding without it: until close",
    input: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n3\r\nabc\r\n",
    finish: true,
    status: 200,
    keepAlive: false,
    body: "3\r\nabc\r\n",
    ends: [null],
    finished: true,
  },
  {
    name: "obs-text (bytes >= 0x80) in a header value and the reason phrase",
    input: "HTTP/1.1 200 \xe9t\xe9\r\nX-Name: caf\xe9\r\nContent-Length: 0\r\n\r\n",
    status: 200,
    headers: ["X-Name", "caf\xe9", "Content-Length", "0"],
    keepAlive: true,
    body: "",
    ends: [null],
  },
];

describe("ResponseParser: valid responses", () => {
  it.each(validCases)("$name", (c) => {
    const o = parse([bin(c.input)], { noBody: c.noBody, finish: c.finish });
    expect(o.error).toBeUndefined();
    expect(o.heads.map((h) => h.status)).toEqual([c.status]);
    if (c.headers !== undefined) expect(o.heads[0]!.headers).toEqual(c.headers);
    expect(o.heads[0]!.keepAlive).toBe(c.keepAlive);
    expect(o.body).toBe(c.body);
    expect(o.ends).toEqual(c.ends);
    expect(o.events[0]).toBe("head");
    expect(o.events.at(-1)).toBe("end");
    if (c.finish === true) expect(o.finished).toBe(c.finished);
  });

  it.each(validCases)("$name: identical at every split point and byte by byte", (c) => {
    const bytes = bin(c.input);
    const whole = summary(parse([bytes], { noBody: c.noBody, finish: c.finish }));
    for (let i = 0; i <= bytes.length; i++) {
      expect(
        summary(parse(splitAt(bytes, [i]), { noBody: c.noBody, finish: c.finish })),
        `split at ${i}`,
      ).toEqual(whole);
    }
    const bytewise = [...bytes].map((b) => Buffer.from([b]));
    expect(summary(parse(bytewise, { noBody: c.noBody, finish: c.finish }))).toEqual(whole);
  });

  it("chunked with extensions and trailers: identical at every pair of split points", () => {
    const c = validCases.find((v) => v.name === "chunked with extensions and trailers")!;
    const bytes = bin(c.input);
    const whole = summary(parse([bytes]));
    for (let i = 0; i <= bytes.length; i++)
      for (let j = i; j <= bytes.length; j++) expect(summary(parse(splitAt(bytes, [i, j])))).toEqual(whole);
  });

  it("a body until close is not complete before finish(), and finish() mid-frame reports false", () => {
    const untilClose = parse([bin("HTTP/1.1 200 OK\r\n\r\npartial")]);
    expect(untilClose.ends).toEqual([]);
    expect(untilClose.body).toBe("partial");

    const midLength = parse([bin("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")], { finish: true });
    expect(midLength.finished).toBe(false);
    expect(midLength.ends).toEqual([]);

    const midChunk = parse([bin("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")], {
      finish: true,
    });
    expect(midChunk.finished).toBe(false);
    expect(midChunk.ends).toEqual([]);

    const midHead = parse([bin("HTTP/1.1 200 OK\r\nContent-Le")], { finish: true });
    expect(midHead.finished).toBe(false);
    expect(midHead.heads).toEqual([]);

    const done = parse([bin("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")], { finish: true });
    expect(done.finished).toBe(true);
    expect(done.ends).toEqual([null]);
  });

  it("idle is true only before the first byte of a head, and reset() makes it reusable", () => {
    const ends: number[] = [];
    const parser = new ResponseParser({ onHead() {}, onBody() {}, onEnd: () => ends.push(1) });
    parser.reset(false);
    expect(parser.idle).toBe(true);
    parser.execute(bin("HTTP/1.1 100 Continue\r\n\r\n"));
    expect(parser.idle).toBe(true);
    parser.execute(bin("HTTP/1.1 2"));
    expect(parser.idle).toBe(false);
    parser.execute(bin("00 OK\r\n\r\nuntil"));
    expect(parser.readsUntilClose).toBe(true);
    expect(parser.finish()).toBe(true);
    expect(parser.readsUntilClose).toBe(false);
    parser.reset(true);
    expect(parser.idle).toBe(true);
    parser.execute(bin("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"));
    expect(ends).toEqual([1, 1]);
  });

  it("a Content-Length body followed by more bytes in the same chunk hands them to onEnd", () => {
    const o = parse([bin("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n")]);
    expect(o.body).toBe("ok");
    expect(o.ends).toEqual(["HTTP/1.1 200 OK\r\n"]);
  });

  it("a chunked body followed by more bytes in the same chunk hands them to onEnd", () => {
    const o = parse([bin("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nEXTRA")]);
    expect(o.body).toBe("ok");
    expect(o.ends).toEqual(["EXTRA"]);
  });

  it("101 Switching Protocols: head reported, no body, the connection is not kept alive for HTTP", () => {
    const o = parse([
      bin("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
    ]);
    expect(o.error).toBeUndefined();
    expect(o.heads.map((h) => h.status)).toEqual([101]);
    expect(o.body).toBe("");
  });

  it("101 ends with the bytes that followed the head handed to onEnd", () => {
    const o = parse([
      bin(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello",
      ),
    ]);
    expect(o.error).toBeUndefined();
    expect(o.heads.map((h) => h.status)).toEqual([101]);
    expect(o.ends).toEqual(["\x81\x05hello"]);
  });

  it("101 without following bytes still ends (onEnd with no rest)", () => {
    const o = parse([bin("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")]);
    expect(o.ends).toEqual([null]);
  });

  // RFC 9112 §6.3 (3): a response with both Transfer-Encoding and Content-Length "ought to be
  // handled as an error"; the parser's own comment says such a message "must not be trusted to leave
  // the connection in a known state". The chunked framing wins, as it should.
  it("Transfer-Encoding chunked + Content-Length: chunked framing wins", () => {
    const o = parse([
      bin(
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      ),
    ]);
    expect(o.error).toBeUndefined();
    expect(o.body).toBe("abc");
    expect(o.ends).toEqual([null]);
  });

  it("Transfer-Encoding chunked + Content-Length: the connection is not kept alive", () => {
    const o = parse([
      bin(
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      ),
    ]);
    expect(o.heads[0]!.keepAlive).toBe(false);
  });
});

const headOk = "HTTP/1.1 200 OK\r\n";
const errorCases: { name: string; input: string; noBody?: boolean }[] = [
  {
    name: "conflicting Content-Length",
    input: `${headOk}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
  },
  { name: "Content-Length list", input: `${headOk}Content-Length: 5, 5\r\n\r\nhello` },
  { name: "non-numeric Content-Length", input: `${headOk}Content-Length: abc\r\n\r\n` },
  { name: "Content-Length with a suffix", input: `${headOk}Content-Length: 5x\r\n\r\nhello` },
  { name: "negative Content-Length", input: `${headOk}Content-Length: -1\r\n\r\n` },
  { name: "signed Content-Length", input: `${headOk}Content-Length: +5\r\n\r\nhello` },
  { name: "hex Content-Length", input: `${headOk}Content-Length: 0x5\r\n\r\nhello` },
  { name: "fractional Content-Length", input: `${headOk}Content-Length: 1.5\r\n\r\nhello` },
  { name: "empty Content-Length", input: `${headOk}Content-Length:\r\n\r\n` },
  { name: "huge Content-Length", input: `${headOk}Content-Length: 9999999999999999\r\n\r\n` },
  {
    name: "obs-fold (a line starting with a space)",
    input: `${headOk}X-A: b\r\n c\r\nContent-Length: 0\r\n\r\n`,
  },
  {
    name: "obs-fold (a line starting with a tab)",
    input: `${headOk}X-A: b\r\n\tc: d\r\nContent-Length: 0\r\n\r\n`,
  },
  { name: "bare LF after the status line", input: "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n" },
  { name: "bare LF between header lines", input: `${headOk}X-A: b\nContent-Length: 0\r\n\r\n` },
  { name: "CR in a header value", input: `${headOk}X-A: a\rb\r\nContent-Length: 0\r\n\r\n` },
  { name: "DEL in a header value", input: `${headOk}X-A: a\x7fb\r\nContent-Length: 0\r\n\r\n` },
  { name: "control character in the status line", input: "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n" },
  { name: "space in a header name", input: `${headOk}X A: b\r\nContent-Length: 0\r\n\r\n` },
  { name: "space before the colon", input: `${headOk}Content-Length : 0\r\n\r\n` },
  { name: "separator in a header name", input: `${headOk}X(A): b\r\nContent-Length: 0\r\n\r\n` },
  { name: "non-ASCII header name", input: `${headOk}X\xe9: b\r\nContent-Length: 0\r\n\r\n` },
  { name: "empty header name", input: `${headOk}: b\r\nContent-Length: 0\r\n\r\n` },
  { name: "header line without a colon", input: `${headOk}NoColonHere\r\nContent-Length: 0\r\n\r\n` },
  { name: "status line HTTP/2", input: "HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n" },
  { name: "status line HTTP/1.2", input: "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n" },
  { name: "status line HTTP/1.1 20", input: "HTTP/1.1 20\r\nContent-Length: 0\r\n\r\n" },
  { name: "status line ICY 200 OK", input: "ICY 200 OK\r\nContent-Length: 0\r\n\r\n" },
  { name: "lower-case protocol", input: "http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" },
  { name: "four-digit status", input: "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n" },
  { name: "status below 100", input: "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n" },
  { name: "signed status", input: "HTTP/1.1 +20 OK\r\nContent-Length: 0\r\n\r\n" },
  { name: "non-numeric status", input: "HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n" },
  { name: "two spaces after the version", input: "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n" },
  { name: "empty status line", input: "\r\nContent-Length: 0\r\n\r\n" },
  { name: "bad chunk size zz", input: `${headOk}Transfer-Encoding: chunked\r\n\r\nzz\r\n` },
  { name: "empty chunk size", input: `${headOk}Transfer-Encoding: chunked\r\n\r\n\r\nabc\r\n` },
  { name: "negative chunk size", input: `${headOk}Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n` },
  { name: "chunk size with 0x prefix", input: `${headOk}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n` },
  { name: "chunk size too large", input: `${headOk}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n` },
  { name: "bare LF after the chunk size", input: `${headOk}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n` },
  {
    name: "chunk data not followed by CRLF",
    input: `${headOk}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n`,
  },
  {
    name: "chunk data followed by a bare LF",
    input: `${headOk}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n`,
  },
  {
    name: "chunk-size line over 4 KiB",
    input: `${headOk}Transfer-Encoding: chunked\r\n\r\n5;${"x".repeat(5000)}\r\nhello\r\n0\r\n\r\n`,
  },
  {
    name: "trailer line over 4 KiB",
    input: `${headOk}Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: ${"x".repeat(5000)}\r\n\r\n`,
  },
  { name: "bare LF in a trailer", input: `${headOk}Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: t\n\r\n` },
  {
    name: "bytes after Done (a second response in a later chunk is fed after a Content-Length body)",
    input: `${headOk}Content-Length: 2\r\n\r\nok`,
  },
];

describe("ResponseParser: malformed responses are FLT_UPSTREAM_BAD_RESPONSE", () => {
  it.each(errorCases.filter((c) => !c.name.startsWith("bytes after")))("$name", (c) => {
    const o = parse([bin(c.input)], { noBody: c.noBody });
    expectBadResponse(o);
    // At any split point, and byte by byte, it is still an error (never a different outcome).
    const bytes = bin(c.input);
    for (const i of [1, 7, 16, 17, Math.floor(bytes.length / 2), bytes.length - 1])
      expectBadResponse(parse(splitAt(bytes, [i]), { noBody: c.noBody }));
    expectBadResponse(
      parse(
        [...bytes].map((b) => Buffer.from([b])),
        { noBody: c.noBody },
      ),
    );
  });

  it.each([
    ["after a Content-Length body", `${headOk}Content-Length: 2\r\n\r\nok`],
    ["after a chunked body", `${headOk}Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n`],
    ["after a 204", "HTTP/1.1 204 No Content\r\n\r\n"],
    ["after a Content-Length: 0", `${headOk}Content-Length: 0\r\n\r\n`],
  ])("bytes after Done %s", (_name, input) => {
    const o = parse([bin(input), bin("HTTP/1.1 200 OK\r\n\r\n")]);
    expect(o.ends).toEqual([null]);
    expectBadResponse(o);
  });

  it("bytes after Done in a HEAD response", () => {
    const o = parse([bin(`${headOk}Content-Length: 5\r\n\r\n`), bin("hello")], { noBody: true });
    expect(o.ends).toEqual([null]);
    expect(o.body).toBe("");
    expectBadResponse(o);
  });

  it("a head larger than 64 KiB, whole or in pieces, terminated or not", () => {
    const big = `${headOk}X-Big: ${"a".repeat(64 * 1024)}\r\nContent-Length: 0\r\n\r\n`;
    expectBadResponse(parse([bin(big)]));
    const pieces: Buffer[] = [];
    for (let i = 0; i < big.length; i += 1000) pieces.push(bin(big.slice(i, i + 1000)));
    expectBadResponse(parse(pieces));
    // Never terminated: the error comes as soon as more than 64 KiB are buffered.
    const unterminated = parse([bin(headOk), bin(`X-Big: ${"a".repeat(40_000)}`), bin("a".repeat(40_000))]);
    expectBadResponse(unterminated);
    // Many small header lines add up too.
    const many = `${headOk}${"X-H: 0123456789\r\n".repeat(5000)}Content-Length: 0\r\n\r\n`;
    expectBadResponse(parse([bin(many)]));
  });

  it("a head just under 64 KiB is accepted", () => {
    const filler = 64 * 1024 - headOk.length - "X-Big: ".length - "\r\nContent-Length: 0".length;
    const input = `${headOk}X-Big: ${"a".repeat(filler)}\r\nContent-Length: 0\r\n\r\n`;
    const o = parse([bin(input)]);
    expect(o.error).toBeUndefined();
    expect(o.heads[0]!.headers[1]!.length).toBe(filler);
  });

  it("NUL in a header value", () => {
    expectBadResponse(parse([bin(`${headOk}X-A: a\0b\r\nContent-Length: 0\r\n\r\n`)]));
  });

  it("NUL in the status line", () => {
    expectBadResponse(parse([bin("HTTP/1.1 200 O\0K\r\nContent-Length: 0\r\n\r\n")]));
  });

  it("a status code in exponent notation (HTTP/1.1 2e2 OK) is malformed", () => {
    expectBadResponse(parse([bin("HTTP/1.1 2e2 OK\r\nContent-Length: 0\r\n\r\n")]));
  });
});

// ---------------------------------------------------------------------------------------------
// Generated responses: any valid response gives the same events however it is split.

const tokenChars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const framingNames = new Set(["content-length", "transfer-encoding", "connection"]);
const headerName = fc
  .string({ unit: fc.constantFrom(...tokenChars), minLength: 1, maxLength: 12 })
  .filter((n) => !framingNames.has(n.toLowerCase()));
// Visible ASCII, space and tab inside, obs-text; no leading/trailing whitespace (the parser trims it).
const headerValue = fc
  .string({
    unit: fc.oneof(
      fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
      fc.constantFrom(" ", "\t", "\xe9", "\xff"),
    ),
    maxLength: 20,
  })
  .map((v) => v.trim())
  .filter((v) => v === v.replace(/^[ \t]+|[ \t]+$/g, ""));

interface GeneratedResponse {
  bytes: Buffer;
  status: number;
  headers: string[];
  body: Buffer;
  noBody: boolean;
  untilClose: boolean;
}

const generatedResponse = fc
  .record({
    interim: fc.array(fc.constantFrom(100, 102, 103), { maxLength: 2 }),
    http10: fc.boolean(),
    status: fc.constantFrom(200, 201, 203, 204, 206, 301, 304, 400, 404, 500, 503, 599),
    reason: fc.constantFrom("", " ", " OK", " Some Reason", " \xe9"),
    headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 5 }),
    framing: fc.constantFrom("length", "chunked", "close"),
    body: fc.uint8Array({ maxLength: 300 }),
    chunkSizes: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
    upperHex: fc.boolean(),
    extensions: fc.array(fc.constantFrom("", ";a", ";a=b", ' ;q="x;y"', "\t;z"), {
      minLength: 1,
      maxLength: 3,
    }),
    trailers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 2 }),
    head: fc.boolean(),
  })
  .map((r): GeneratedResponse => {
    const version = r.http10 ? "HTTP/1.0" : "HTTP/1.1";
    let text = "";
    for (const s of r.interim) text += `HTTP/1.1 ${s} Interim\r\nX-Interim: ${s}\r\n\r\n`;
    const body = Buffer.from(r.body);
    const headers: string[] = [];
    for (const [n, v] of r.headers) headers.push(n, v);
    if (r.framing === "length") headers.push("Content-Length", String(body.length));
    if (r.framing === "chunked") headers.push("Transfer-Encoding", "chunked");
    text += `${version} ${r.status}${r.reason}\r\n`;
    for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
    text += "\r\n";
    const noBody = r.head || r.status === 204 || r.status === 304;
    let payload = Buffer.alloc(0);
    if (!noBody) {
      if (r.framing === "chunked") {
        const parts: Buffer[] = [];
        let at = 0;
        let k = 0;
        while (at < body.length) {
          const size = Math.min(r.chunkSizes[k % r.chunkSizes.length]!, body.length - at);
          const hex = size.toString(16);
          parts.push(
            bin(`${r.upperHex ? hex.toUpperCase() : hex}${r.extensions[k % r.extensions.length]}\r\n`),
          );
          parts.push(body.subarray(at, at + size), bin("\r\n"));
          at += size;
          k++;
        }
        let trailer = `0${r.extensions[0]}\r\n`;
        for (const [n, v] of r.trailers) trailer += `${n}: ${v}\r\n`;
        parts.push(bin(`${trailer}\r\n`));
        payload = Buffer.concat(parts);
      } else payload = body;
    }
    return {
      bytes: Buffer.concat([bin(text), payload]),
      status: r.status,
      headers,
      body: noBody ? Buffer.alloc(0) : body,
      noBody: r.head,
      untilClose: r.framing === "close" && !noBody,
    };
  });

describe("ResponseParser: properties", () => {
  it("any valid response parses to its parts, identically for random split points and chunk sizes", () => {
    fc.assert(
      fc.property(
        generatedResponse,
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 6 }),
        (r, cuts, sizes) => {
          const options = { noBody: r.noBody, finish: r.untilClose };
          const whole = parse([r.bytes], options);
          expect(whole.error).toBeUndefined();
          expect(whole.heads.map((h) => h.status)).toEqual([r.status]);
          expect(whole.heads[0]!.headers).toEqual(r.headers);
          expect(whole.body).toBe(r.body.toString("latin1"));
          expect(whole.ends).toEqual([null]);
          if (r.untilClose) expect(whole.finished).toBe(true);
          const reference = summary(whole);
          // Random split points.
          expect(
            summary(
              parse(
                splitAt(
                  r.bytes,
                  cuts.map((c) => c % (r.bytes.length + 1)),
                ),
                options,
              ),
            ),
          ).toEqual(reference);
          // Random chunk sizes, cycling.
          const pieces: Buffer[] = [];
          for (let at = 0, k = 0; at < r.bytes.length; k++) {
            const size = sizes[k % sizes.length]!;
            pieces.push(r.bytes.subarray(at, at + size));
            at += size;
          }
          expect(summary(parse(pieces, options))).toEqual(reference);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it("a generated response is identical at every single split point", () => {
    fc.assert(
      fc.property(generatedResponse, (r) => {
        const options = { noBody: r.noBody, finish: r.untilClose };
        const reference = summary(parse([r.bytes], options));
        for (let i = 0; i <= r.bytes.length; i++)
          expect(summary(parse(splitAt(r.bytes, [i]), options))).toEqual(reference);
      }),
      { numRuns: 150 },
    );
  });

  // Pieces of HTTP plus noise: far more likely than random bytes to reach the deep states.
  const fragment = fc.oneof(
    fc.constantFrom(
      "HTTP/1.1 200 OK\r\n",
      "HTTP/1.1 100 Continue\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\n",
      "HTTP/1.0 204 No Content\r\n",
      "HTTP/1.1 304 X\r\n",
      "Content-Length: 5\r\n",
      "Content-Length: 0\r\n",
      "content-length: 7\r\n",
      "Transfer-Encoding: chunked\r\n",
      "Transfer-Encoding: gzip\r\n",
      "Connection: close\r\n",
      "Connection: keep-alive\r\n",
      "X-A: b\r\n",
      " folded\r\n",
      "\r\n",
      "\r\n\r\n",
      "\n",
      "\r",
      "5\r\nhello\r\n",
      "3;x=y\r\nabc\r\n",
      "0\r\n\r\n",
      "0\r\nT: v\r\n\r\n",
      "ffffffff\r\n",
      "zz\r\n",
      ":",
      " ",
      "\0",
    ),
    fc.string({ maxLength: 8 }),
    fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a).toString("latin1")),
  );
  const fuzzInput = fc.oneof(
    fc.array(fragment, { maxLength: 30 }).map((parts) => bin(parts.join(""))),
    fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)),
    generatedResponse.chain((r) =>
      fc
        .array(
          fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("set", "insert", "delete")),
          {
            minLength: 1,
            maxLength: 4,
          },
        )
        .map((mutations) => {
          const bytes = [...r.bytes];
          for (const [at, value, kind] of mutations) {
            const i = at % (bytes.length + 1);
            if (kind === "set" && i < bytes.length) bytes[i] = value;
            else if (kind === "insert") bytes.splice(i, 0, value);
            else bytes.splice(i, 1);
          }
          return Buffer.from(bytes);
        }),
    ),
  );

  it("fuzz: execute() on arbitrary bytes throws only UpstreamClientError, and the events are consistent", () => {
    fc.assert(
      fc.property(
        fuzzInput,
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.boolean(),
        fc.boolean(),
        (bytes, cuts, noBody, finish) => {
          const seen: Buffer[] = [];
          const o = parse(
            splitAt(
              bytes,
              cuts.map((c) => c % (bytes.length + 1)),
            ),
            { noBody, finish, onBody: (chunk) => seen.push(chunk) },
          );
          if (o.error !== undefined) {
            expect(errorCode(o.error)).toBe(UpstreamClientErrorCode.BadResponse);
            expect((o.error as Error).message).toMatch(/^malformed upstream response: /);
          }
          // At most one final head; body only after it; at most one end, after the head, last.
          expect(o.heads.length).toBeLessThanOrEqual(1);
          expect(o.ends.length).toBeLessThanOrEqual(1);
          const firstHead = o.events.indexOf("head");
          const firstBody = o.events.indexOf("body");
          const end = o.events.indexOf("end");
          if (firstBody >= 0) expect(firstHead).toBeGreaterThanOrEqual(0);
          if (firstBody >= 0) expect(firstBody).toBeGreaterThan(firstHead);
          if (end >= 0) {
            expect(firstHead).toBeGreaterThanOrEqual(0);
            expect(end).toBe(o.events.length - 1);
          }
          for (const chunk of seen) expect(chunk.length).toBeGreaterThan(0);
          if (o.heads.length === 1) {
            const h = o.heads[0]!;
            expect(h.status === 101 || (h.status >= 200 && h.status <= 999)).toBe(true);
            expect(h.headers.length % 2).toBe(0);
            const noBodyStatus = noBody || h.status === 204 || h.status === 304 || h.status === 101;
            if (noBodyStatus) expect(o.body).toBe("");
          }
          // The body is never longer than the input.
          expect(o.body.length).toBeLessThanOrEqual(bytes.length);
          // finish() says true only once the response is complete.
          if (o.finished === true) expect(o.ends.length === 1 || o.heads[0]?.status === 101).toBe(true);
          if (o.finished === false) expect(o.ends.length).toBe(0);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it("fuzz: a Content-Length or chunked body is exactly as long as its framing says", () => {
    fc.assert(
      fc.property(generatedResponse, fc.array(fc.nat(), { maxLength: 6 }), (r, cuts) => {
        fc.pre(!r.untilClose);
        const truncated = r.bytes.subarray(0, r.bytes.length - 1);
        const o = parse(
          splitAt(
            truncated,
            cuts.map((c) => c % (truncated.length + 1)),
          ),
          { noBody: r.noBody, finish: true },
        );
        // One byte short of the end is never a complete response.
        expect(o.error).toBeUndefined();
        expect(o.finished).toBe(false);
        expect(o.ends).toEqual([]);
        expect(r.body.toString("latin1").startsWith(o.body)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
