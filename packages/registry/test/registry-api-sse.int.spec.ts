// The SSE endpoints at the byte level: what a raw HTTP/1.1 or HTTP/1.0 client receives, and how
// a client that stops reading is dropped.
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { call, type Harness, registration, startHarness } from "./registry-server-harness.js";

const harnesses: Harness[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const h of harnesses.splice(0)) await h.close();
});

async function start(...args: Parameters<typeof startHarness>): Promise<Harness> {
  const h = await startHarness(...args);
  harnesses.push(h);
  return h;
}

/** Closes `h` now (its streams end) rather than after the test. */
async function closeNow(h: Harness): Promise<void> {
  harnesses.splice(harnesses.indexOf(h), 1);
  await h.close();
}

/** One request on a connection of its own, and every byte the server sends back. */
interface RawExchange {
  readonly socket: Socket;
  /** The response so far: head, then body. */
  response(): { readonly head: string; readonly body: Buffer };
  /** Resolves once `done` holds for the response (checked after every read); rejects when it throws. */
  until(done: (body: Buffer, head: string) => boolean): Promise<void>;
  /** Resolves when the server has closed the connection. */
  readonly closed: Promise<void>;
}

function rawGet(base: string, path: string, version: "1.1" | "1.0"): RawExchange {
  const { hostname, port } = new URL(base);
  const socket = connect(Number(port), hostname);
  sockets.push(socket);
  socket.write(`GET ${path} HTTP/${version}\r\nhost: ${hostname}\r\naccept: text/event-stream\r\n\r\n`);
  let received = Buffer.alloc(0);
  const waiters = new Set<() => void>();
  socket.on("data", (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    for (const check of [...waiters]) check();
  });
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const response = () => {
    const end = received.indexOf("\r\n\r\n");
    return end < 0
      ? { head: "", body: Buffer.alloc(0) }
      : { head: received.subarray(0, end).toString("latin1"), body: received.subarray(end + 4) };
  };
  return {
    socket,
    response,
    closed,
    until(done) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const { head, body } = response();
          try {
            if (head === "" || !done(body, head)) return;
            resolve();
          } catch (error) {
            reject(error);
          }
          waiters.delete(check);
        };
        waiters.add(check);
        void closed.then(() => {
          if (waiters.delete(check)) reject(new Error(`connection closed first:\n${received.toString()}`));
        });
        check();
      });
    },
  };
}

/**
 * Decodes a chunked body strictly (RFC 9112 §7.1, no extensions or trailers): the chunks' data,
 * and whether the last (zero-size) chunk has arrived. Throws on anything malformed.
 */
function dechunk(body: Buffer): { readonly chunks: string[]; readonly complete: boolean } {
  const chunks: string[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = body.indexOf("\r\n", at);
    if (lineEnd < 0) return { chunks, complete: false };
    const sizeLine = body.subarray(at, lineEnd).toString("latin1");
    if (!/^[0-9a-f]+$/i.test(sizeLine)) throw new Error(`bad chunk size line ${JSON.stringify(sizeLine)}`);
    const size = Number.parseInt(sizeLine, 16);
    const dataEnd = lineEnd + 2 + size;
    if (body.length < dataEnd + 2) return { chunks, complete: false };
    if (body.subarray(dataEnd, dataEnd + 2).toString("latin1") !== "\r\n") {
      throw new Error(`chunk of ${size} bytes not followed by CRLF`);
    }
    if (size === 0) {
      if (dataEnd + 2 !== body.length) throw new Error("bytes after the last chunk");
      return { chunks, complete: true };
    }
    chunks.push(body.subarray(lineEnd + 2, dataEnd).toString("utf8"));
    at = dataEnd + 2;
  }
}

const eventsOf = (texts: readonly string[]) => texts.filter((t) => !t.startsWith(":"));

async function streamCount(base: string): Promise<number> {
  const metrics = await call(base, "GET", "/metrics");
  const match = /flotilla_registry_watchers\{kind="stream"[^}]*\} (\d+)/.exec(metrics.text);
  if (match === null) throw new Error("no stream gauge in /metrics");
  return Number(match[1]);
}

describe("registry API: SSE on the wire", () => {
  it("sends each event and ping as one valid chunk, and ends the body with the last chunk on close", async () => {
    const h = await start({ pingInterval: 20 });
    await call(h.url, "POST", "/v1/instances", registration("s", "s-1"));
    const raw = rawGet(h.url, "/v1/services/s/stream", "1.1");
    await raw.until((body) => dechunk(body).chunks.length >= 1);
    await call(h.url, "POST", "/v1/instances", registration("s", "s-2"));
    await raw.until((body) => eventsOf(dechunk(body).chunks).length >= 2);
    await raw.until((body) => dechunk(body).chunks.filter((c) => c === ": ping\n\n").length >= 2);
    await call(h.url, "POST", "/v1/instances", registration("s", "s-3"));
    await raw.until((body) => eventsOf(dechunk(body).chunks).length >= 3);
    await closeNow(h);
    await raw.closed;

    const { head, body } = raw.response();
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head.toLowerCase()).toContain("transfer-encoding: chunked");
    const { chunks, complete } = dechunk(body);
    expect(complete).toBe(true);
    const events = eventsOf(chunks);
    expect(events.map((e) => /^event: (\w+)\n/.exec(e)?.[1])).toEqual(["snapshot", "update", "update"]);
    for (const event of events) {
      expect(event).toMatch(/^event: \w+\nid: \d+\ndata: \{.*\}\n\n$/);
      const data = JSON.parse(/\ndata: (.*)\n/.exec(event)![1]!) as { instances: { id: string }[] };
      expect(data.instances.length).toBeGreaterThan(0);
    }
    const last = JSON.parse(/\ndata: (.*)\n/.exec(events[2]!)![1]!) as { instances: { id: string }[] };
    expect(last.instances.map((i) => i.id)).toEqual(["s-1", "s-2", "s-3"]);
  });

  it("sends an HTTP/1.0 client the events unframed, ending the stream by closing the connection", async () => {
    const h = await start();
    const raw = rawGet(h.url, "/v1/services/s/stream", "1.0");
    await raw.until((body) => body.includes("\n\n"));
    await call(h.url, "POST", "/v1/instances", registration("s", "s-1"));
    await raw.until((body) => body.includes("event: update\n"));
    await closeNow(h);
    await raw.closed;
    const { head, body } = raw.response();
    expect(head.toLowerCase()).not.toContain("transfer-encoding");
    const text = body.toString("utf8");
    expect(text).toMatch(
      /^event: snapshot\nid: \d+\ndata: \{.*\}\n\nevent: update\nid: \d+\ndata: \{.*"s-1".*\}\n\n$/,
    );
  });

  it("drops a client that leaves more than maxStreamBufferBytes unread", async () => {
    const { url } = await start({ limits: { maxStreamBufferBytes: 64 * 1024 } });
    const raw = rawGet(url, "/v1/kv-stream?key=big", "1.1");
    await raw.until((body) => dechunk(body).chunks.length >= 1);
    expect(await streamCount(url)).toBe(1);
    raw.socket.pause();
    // Each update carries the whole value; the kernel's socket buffers take some megabytes first.
    const value = "x".repeat(256 * 1024);
    let puts = 0;
    while ((await streamCount(url)) > 0) {
      if (++puts > 400) throw new Error("the stream was never dropped");
      await call(url, "PUT", "/v1/kv/big", `${value}${puts}`);
    }
    raw.socket.resume();
    await raw.closed;
    const { chunks, complete } = dechunk(raw.response().body);
    expect(complete).toBe(false);
    expect(chunks.length).toBeLessThan(puts + 1);
  });
});
