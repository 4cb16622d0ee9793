// writeDirectResponse against Node's own ServerResponse: for the same status, headers and body,
// the bytes on the wire (Date aside) and the connection's fate must be the same, on this Node.
import { createServer, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeDirectResponse } from "../src/proxy/direct-response.js";

let server: Server;
let port = 0;
const direct: boolean[] = [];

/** `/direct/<status>` answers through writeDirectResponse, `/node/<status>` through writeHead/end. */
function answer(res: ServerResponse, path: string): void {
  const [, how, code, bad] = path.split("/");
  const status = Number(code);
  const body = status === 204 || status === 304 ? undefined : Buffer.from("hello, wire");
  const headers = ["Content-Type", "text/plain", "X-Upstream", "a"];
  if (body !== undefined) headers.push("content-length", String(body.length));
  const added: Record<string, string> = bad === "bad" ? { "x-layer": "one\r\ntwo" } : { "x-layer": "one" };
  if (how === "direct") {
    const done = writeDirectResponse(res, status, [...headers, "x-layer", added["x-layer"]!], added, body);
    direct.push(done);
    if (done) return;
  }
  res.writeHead(status, [...headers, "x-layer", "one"]);
  res.end(body);
}

beforeAll(async () => {
  server = createServer((req, res) => answer(res, req.url ?? "/"));
  server.maxRequestsPerSocket = 3;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Sends `requests` on one connection, one after the other; resolves with each raw answer and whether the server closed. */
async function exchange(requests: readonly string[]): Promise<{ answers: string[]; closed: boolean }> {
  const socket = connect(port, "127.0.0.1");
  const answers: string[] = [];
  let closed = false;
  let buffered = "";
  let waiting: (() => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("latin1");
    waiting?.();
  });
  socket.on("end", () => {
    closed = true;
    waiting?.();
  });
  for (const request of requests) {
    if (closed) break;
    socket.write(request);
    // An answer is complete once its head and its Content-Length's worth of body are in.
    await new Promise<void>((resolve) => {
      waiting = () => {
        const end = buffered.indexOf("\r\n\r\n");
        if (end >= 0) {
          const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
          const bodyless = request.startsWith("HEAD") || / (204|304) /.test(buffered.slice(0, 16));
          const total = end + 4 + (bodyless ? 0 : length);
          if (buffered.length >= total) {
            answers.push(buffered.slice(0, total));
            buffered = buffered.slice(total);
            resolve();
            return;
          }
        }
        if (closed) resolve();
      };
      waiting();
    });
  }
  // Give a close that follows the last answer the chance to arrive: the server either ends the
  // connection after it (Connection: close) or leaves it open, which a second probe tells apart.
  if (!closed) {
    await new Promise<void>((resolve) => {
      waiting = () => closed && resolve();
      socket.write("GET /node/200 HTTP/1.1\r\nHost: probe\r\n\r\n", () => undefined);
      socket.once("data", () => resolve());
    });
  }
  socket.destroy();
  return { answers, closed };
}

const withoutDate = (raw: string): string => raw.replace(/^Date: .*\r\n/m, "Date: <now>\r\n");

describe("writeDirectResponse", () => {
  const cases: [string, (how: "direct" | "node") => string[]][] = [
    ["HTTP/1.1 keep-alive", (how) => [`GET /${how}/200 HTTP/1.1\r\nHost: a\r\n\r\n`]],
    [
      "HTTP/1.1 Connection: close",
      (how) => [`GET /${how}/200 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`],
    ],
    ["HTTP/1.0", (how) => [`GET /${how}/200 HTTP/1.0\r\nHost: a\r\n\r\n`]],
    [
      "HTTP/1.0 keep-alive",
      (how) => [`GET /${how}/200 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n`],
    ],
    ["HEAD", (how) => [`HEAD /${how}/200 HTTP/1.1\r\nHost: a\r\n\r\n`]],
    ["204", (how) => [`GET /${how}/204 HTTP/1.1\r\nHost: a\r\n\r\n`]],
    ["404", (how) => [`GET /${how}/404 HTTP/1.1\r\nHost: a\r\n\r\n`]],
    [
      "the last request maxRequestsPerSocket allows",
      (how) => [1, 2, 3].map(() => `GET /${how}/200 HTTP/1.1\r\nHost: a\r\n\r\n`),
    ],
  ];
  it.each(cases)("writes what ServerResponse writes: %s", async (_name, requests) => {
    direct.length = 0;
    const ours = await exchange(requests("direct"));
    expect(direct.length).toBeGreaterThan(0);
    expect(direct.every(Boolean)).toBe(true);
    const node = await exchange(requests("node"));
    expect(ours.answers.map(withoutDate)).toEqual(node.answers.map(withoutDate));
    expect(ours.closed).toBe(node.closed);
    expect(ours.answers[0]).toMatch(/^HTTP\/1\.1 \d{3} /);
  });

  it("writes nothing and says so when a layer's header value is invalid", async () => {
    direct.length = 0;
    const { answers } = await exchange([
      "GET /direct/200/bad HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    ]);
    expect(direct).toEqual([false]);
    // The fallback answered through ServerResponse, with the valid value.
    expect(answers[0]).toContain("x-layer: one\r\n");
  });
});
