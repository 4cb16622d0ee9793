// The gateway's own HTTP/1.1 upstream client (UpstreamPool / UpstreamConnection) against real
// node:http and raw node:net servers on 127.0.0.1: keep-alive reuse, transparent resend on a
// connection closed while idle, deadlines, request bodies (chunked / raw, not read before the
// connection stands), backpressure, upgrades, malformed and surplus responses, abort and close.
import { createHash } from "node:crypto";
import { once } from "node:events";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import {
  UpstreamClientError,
  UpstreamClientErrorCode,
} from "../src/upstream-client/upstream-client-error.js";
import type { UpstreamHandler, UpstreamRequestOptions } from "../src/upstream-client/upstream-handler.js";
import { type UpstreamPool, upstreamPool } from "../src/upstream-client/upstream-pool.js";

// ---------------------------------------------------------------------------------------------
// Resources, closed after each test.

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function newPool(options?: Parameters<typeof upstreamPool>[0]): UpstreamPool {
  const pool = upstreamPool(options);
  cleanups.push(() => pool.close());
  return pool;
}

interface TestServer {
  readonly port: number;
  readonly origin: string;
  /** Server-side sockets, in the order the connections arrived. */
  readonly sockets: Socket[];
  /** Server-side sockets the client has closed (or that closed otherwise). */
  readonly closed: Set<Socket>;
}

function track(server: Server | ReturnType<typeof createNetServer>, sockets: Socket[], closed: Set<Socket>) {
  server.on("connection", (socket: Socket) => {
    sockets.push(socket);
    socket.on("close", () => closed.add(socket));
    socket.on("error", () => {});
  });
}

async function listen(server: Server | ReturnType<typeof createNetServer>): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

/** A node:http server; `handler` answers each request. */
async function httpServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<TestServer & { server: Server }> {
  const sockets: Socket[] = [];
  const closed = new Set<Socket>();
  const server = createHttpServer(handler);
  track(server, sockets, closed);
  const port = await listen(server);
  cleanups.push(async () => {
    server.closeAllConnections();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, port, origin: `http://127.0.0.1:${port}`, sockets, closed };
}

interface RawRequest {
  /** The request's bytes as received (head and Content-Length body), latin1. */
  readonly text: string;
  /** Which connection (0-based, in arrival order) carried it. */
  readonly connection: number;
  /** Its position on that connection (0-based). */
  readonly index: number;
}

/**
 * A raw TCP server that splits what it reads into requests (head + Content-Length body only) and
 * lets the test answer each with whatever bytes it likes.
 */
async function rawServer(
  onRequest: (socket: Socket, request: RawRequest) => void,
): Promise<TestServer & { requests: RawRequest[] }> {
  const sockets: Socket[] = [];
  const closed = new Set<Socket>();
  const requests: RawRequest[] = [];
  const server = createNetServer();
  track(server, sockets, closed);
  server.on("connection", (socket: Socket) => {
    const connection = sockets.indexOf(socket);
    let buffered = "";
    let index = 0;
    socket.on("data", (chunk) => {
      buffered += chunk.toString("latin1");
      for (;;) {
        const headEnd = buffered.indexOf("\r\n\r\n");
        if (headEnd < 0) return;
        const length = /\r\ncontent-length: *(\d+)/i.exec(buffered.slice(0, headEnd));
        const total = headEnd + 4 + (length === null ? 0 : Number(length[1]));
        if (buffered.length < total) return;
        const request = { text: buffered.slice(0, total), connection, index: index++ };
        buffered = buffered.slice(total);
        requests.push(request);
        onRequest(socket, request);
      }
    });
  });
  const port = await listen(server);
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port, origin: `http://127.0.0.1:${port}`, sockets, closed, requests };
}

/** A port nothing listens on. */
async function refusedPort(): Promise<number> {
  const server = createNetServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `condition` until it holds (bounded): for effects with no event to wait on. */
async function waitFor(condition: () => boolean, what: string, limitMs = 5_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// ---------------------------------------------------------------------------------------------
// A recording handler.

interface Hooks {
  onConnect?(abort: (error: Error) => void): void;
  onHeaders?(status: number, headers: string[], resume: () => void): boolean;
  onData?(chunk: Buffer, received: number): boolean;
  onUpgrade?(status: number, headers: string[], socket: import("node:stream").Duplex): void;
}

class Recorder implements UpstreamHandler {
  status: number | undefined;
  headers: string[] | undefined;
  readonly chunks: Buffer[] = [];
  received = 0;
  completed = false;
  error: Error | undefined;
  upgrade: { status: number; headers: string[]; socket: import("node:stream").Duplex } | undefined;
  abort: ((error: Error) => void) | undefined;
  resume: (() => void) | undefined;
  /** How many of onComplete / onError / onUpgrade were called: must end at exactly 1. */
  terminal = 0;
  readonly done: Promise<this>;
  #resolve!: (value: this) => void;
  readonly #hooks: Hooks;

  constructor(hooks: Hooks = {}) {
    this.#hooks = hooks;
    this.done = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get text(): string {
    return this.body.toString("latin1");
  }

  onConnect(abort: (error: Error) => void): void {
    this.abort = abort;
    this.#hooks.onConnect?.(abort);
  }

  onHeaders(status: number, headers: string[], resume: () => void): boolean {
    expect(this.status).toBeUndefined();
    this.status = status;
    this.headers = [...headers];
    this.resume = resume;
    return this.#hooks.onHeaders?.(status, headers, resume) ?? true;
  }

  onData(chunk: Buffer): boolean {
    expect(this.status).toBeDefined();
    this.chunks.push(Buffer.from(chunk));
    this.received += chunk.length;
    return this.#hooks.onData?.(chunk, this.received) ?? true;
  }

  onComplete(): void {
    this.completed = true;
    this.#end();
  }

  onError(error: Error): void {
    this.error = error;
    this.#end();
  }

  onUpgrade(status: number, headers: string[], socket: import("node:stream").Duplex): void {
    this.upgrade = { status, headers: [...headers], socket };
    this.#hooks.onUpgrade?.(status, headers, socket);
    this.#end();
  }

  #end(): void {
    this.terminal++;
    this.#resolve(this);
  }
}

function send(
  pool: UpstreamPool,
  options: Partial<UpstreamRequestOptions> & { origin: string },
  hooks?: Hooks,
): Recorder {
  const recorder = new Recorder(hooks);
  // The gateway passes Host among the headers; node:http answers 400 without it.
  const headers = options.headers ?? [];
  pool.dispatch(
    {
      path: "/",
      method: "GET",
      body: null,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
      ...options,
      headers: ["host", new URL(options.origin).host, ...headers],
    },
    recorder,
  );
  return recorder;
}

function codeOf(error: Error | undefined): string | undefined {
  return (error as { code?: string } | undefined)?.code;
}

function sha(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function ok(body: string, extra = ""): string {
  return `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body, "latin1")}\r\n${extra}\r\n${body}`;
}

// ---------------------------------------------------------------------------------------------

describe("keep-alive", () => {
  it("5 sequential requests to one origin use one TCP connection, idle in between", async () => {
    const server = await httpServer((req, res) => res.end(`hello ${req.url}`));
    const pool = newPool();
    for (let i = 0; i < 5; i++) {
      const r = await send(pool, { origin: server.origin, path: `/n/${i}` }).done;
      expect(r.error).toBeUndefined();
      expect(r.status).toBe(200);
      expect(r.text).toBe(`hello /n/${i}`);
      expect(pool.connections).toBe(1);
    }
    expect(server.sockets).toHaveLength(1);
  });

  it("HEAD then GET on the same connection: the HEAD's Content-Length does not swallow the next response", async () => {
    const server = await httpServer((req, res) => {
      res.setHeader("content-length", "11");
      res.end(req.method === "HEAD" ? undefined : "hello world");
    });
    const pool = newPool();
    const head = await send(pool, { origin: server.origin, method: "HEAD" }).done;
    expect(head.completed).toBe(true);
    expect(head.body.length).toBe(0);
    const get = await send(pool, { origin: server.origin }).done;
    expect(get.text).toBe("hello world");
    expect(server.sockets).toHaveLength(1);
  });

  it("concurrent requests open several connections, which are reused afterwards", async () => {
    const waiting: ServerResponse[] = [];
    const server = await httpServer((_req, res) => {
      // Answer only once all four are in: each must have its own connection.
      waiting.push(res);
      if (waiting.length === 4) for (const w of waiting.splice(0)) w.end("ok");
    });
    const pool = newPool();
    const first = await Promise.all([1, 2, 3, 4].map(() => send(pool, { origin: server.origin }).done));
    for (const r of first) expect(r.text).toBe("ok");
    expect(server.sockets).toHaveLength(4);
    expect(pool.connections).toBe(4);
    const second = await Promise.all([1, 2, 3, 4].map(() => send(pool, { origin: server.origin }).done));
    for (const r of second) expect(r.text).toBe("ok");
    expect(server.sockets).toHaveLength(4);
    expect(pool.connections).toBe(4);
  });

  it("a kept-alive connection the upstream closes while idle is dropped, and the next request opens a fresh one", async () => {
    const server = await httpServer((_req, res) => res.end("ok"));
    const pool = newPool();
    expect((await send(pool, { origin: server.origin }).done).text).toBe("ok");
    expect(pool.connections).toBe(1);
    server.sockets[0]!.destroy();
    await waitFor(() => pool.connections === 0, "the pool to drop the closed connection");
    expect((await send(pool, { origin: server.origin }).done).text).toBe("ok");
    expect(pool.connections).toBe(1);
    expect(server.sockets).toHaveLength(2);
  });

  it("a Connection: close response's connection is not reused", async () => {
    const server = await httpServer((_req, res) => {
      res.setHeader("connection", "close");
      res.end("bye");
    });
    const pool = newPool();
    const a = await send(pool, { origin: server.origin }).done;
    expect(a.text).toBe("bye");
    expect(pool.connections).toBe(0);
    const b = await send(pool, { origin: server.origin }).done;
    expect(b.text).toBe("bye");
    expect(server.sockets).toHaveLength(2);
  });

  it("an HTTP/1.0 response's connection is not reused (the server keeps it open)", async () => {
    const server = await rawServer((socket) =>
      socket.write("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
    );
    const pool = newPool();
    const a = await send(pool, { origin: server.origin }).done;
    expect(a.text).toBe("hi");
    expect(pool.connections).toBe(0);
    const b = await send(pool, { origin: server.origin }).done;
    expect(b.text).toBe("hi");
    expect(server.sockets).toHaveLength(2);
    await waitFor(() => server.closed.size === 2, "the client to close both connections");
  });

  it("an HTTP/1.0 response with Connection: keep-alive is reused", async () => {
    const server = await rawServer((socket) =>
      socket.write("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi"),
    );
    const pool = newPool();
    for (let i = 0; i < 3; i++) expect((await send(pool, { origin: server.origin }).done).text).toBe("hi");
    expect(server.sockets).toHaveLength(1);
  });

  it("a body read until close: the closed connection is not reused for the next request", async () => {
    const server = await rawServer((socket, request) => {
      if (request.connection === 0) socket.end("HTTP/1.1 200 OK\r\n\r\nuntil the end");
      else socket.write(ok("second"));
    });
    const pool = newPool();
    const a = await send(pool, { origin: server.origin }).done;
    expect(a.completed).toBe(true);
    expect(a.text).toBe("until the end");
    const b = await send(pool, { origin: server.origin, headersTimeout: 1_000 }).done;
    expect(codeOf(b.error)).toBeUndefined();
    expect(b.text).toBe("second");
  });
});

describe("a kept-alive connection the upstream closed", () => {
  const bodies: [string, () => Buffer | null][] = [
    ["no body", () => null],
    ["a Buffer body", () => Buffer.from("payload \0\xff bytes", "latin1")],
  ];
  for (const [bodyName, makeBody] of bodies) {
    for (const how of ["end", "destroy"] as const) {
      it(`is transparently resent on a fresh connection (${bodyName}, server ${how}s it)`, async () => {
        // The first request on each connection is answered; a second one on the same connection
        // finds it closed, as when the upstream's keep-alive timeout fires just as it is reused.
        const server = await rawServer((socket, request) => {
          if (request.index === 0) socket.write(ok(`conn ${request.connection}`));
          else socket[how]();
        });
        const pool = newPool();
        const body = makeBody();
        const headers = body === null ? [] : ["content-length", String(body.length)];
        const method = body === null ? "GET" : "PUT";
        const a = await send(pool, { origin: server.origin, method, headers, body, path: "/one" }).done;
        expect(a.text).toBe("conn 0");
        expect(pool.connections).toBe(1);
        const b = await send(pool, { origin: server.origin, method, headers, body, path: "/two" }).done;
        expect(b.error).toBeUndefined();
        expect(b.text).toBe("conn 1");
        expect(b.terminal).toBe(1);
        expect(server.sockets).toHaveLength(2);
        // The resent request is byte for byte the one the closed connection swallowed.
        const two = server.requests.filter((r) => r.text.includes("/two"));
        expect(two.map((r) => [r.connection, r.index])).toEqual([
          [0, 1],
          [1, 0],
        ]);
        expect(two[1]!.text).toBe(two[0]!.text);
        if (body !== null) expect(two[1]!.text.endsWith(body.toString("latin1"))).toBe(true);
      });
    }
  }

  it("a POST is not resent: the upstream may have acted on it before closing", async () => {
    const server = await rawServer((socket, request) => {
      if (request.index === 0) socket.write(ok(`conn ${request.connection}`));
      else socket.destroy();
    });
    const pool = newPool();
    const body = Buffer.from("charge the card");
    const headers = ["content-length", String(body.length)];
    const a = await send(pool, { origin: server.origin, method: "POST", headers, body, path: "/one" }).done;
    expect(a.text).toBe("conn 0");
    const b = await send(pool, { origin: server.origin, method: "POST", headers, body, path: "/two" }).done;
    expect(codeOf(b.error)).toBe("FLT_UPSTREAM_SOCKET_CLOSED");
    expect(server.requests.filter((r) => r.text.includes("/two"))).toHaveLength(1);
  });

  it("a connection closed while idle (and noticed) is skipped", async () => {
    const server = await rawServer((socket, request) => {
      socket.write(ok(`conn ${request.connection}`));
      if (request.connection === 0) socket.end();
    });
    const pool = newPool();
    expect((await send(pool, { origin: server.origin }).done).text).toBe("conn 0");
    await waitFor(() => server.closed.size === 1, "the server to close the first connection");
    const b = await send(pool, { origin: server.origin }).done;
    expect(b.text).toBe("conn 1");
    expect(server.requests).toHaveLength(2);
  });

  it("a streamed body is not resent: the request fails instead", async () => {
    const server = await rawServer((socket, request) => {
      if (request.index === 0) socket.write(ok("first"));
    });
    const pool = newPool();
    expect((await send(pool, { origin: server.origin }).done).text).toBe("first");
    // Close as the second request's first bytes arrive.
    server.sockets[0]!.once("data", () => server.sockets[0]!.destroy());
    const b = await send(pool, {
      origin: server.origin,
      method: "POST",
      body: Readable.from([Buffer.from("streamed")]),
    }).done;
    expect(b.error).toBeDefined();
    expect(b.completed).toBe(false);
    expect(server.sockets).toHaveLength(1);
  });
});

describe("deadlines", () => {
  it("headersTimeout: a server that never answers → FLT_UPSTREAM_HEADERS_TIMEOUT, connection dropped", async () => {
    const server = await rawServer(() => {});
    const pool = newPool();
    const r = await send(pool, { origin: server.origin, headersTimeout: 150 }).done;
    expect(r.error).toBeInstanceOf(UpstreamClientError);
    expect(codeOf(r.error)).toBe(UpstreamClientErrorCode.HeadersTimeout);
    expect(r.status).toBeUndefined();
    expect(pool.connections).toBe(0);
    await waitFor(() => server.closed.size === 1, "the client to close the connection");
  });

  it("bodyTimeout: head and part of the body, then nothing → FLT_UPSTREAM_BODY_TIMEOUT", async () => {
    const server = await rawServer((socket) =>
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"),
    );
    const pool = newPool();
    const r = await send(pool, { origin: server.origin, bodyTimeout: 150 }).done;
    expect(r.status).toBe(200);
    expect(r.text).toBe("0123456789");
    expect(codeOf(r.error)).toBe(UpstreamClientErrorCode.BodyTimeout);
    expect(r.completed).toBe(false);
    expect(pool.connections).toBe(0);
    await waitFor(() => server.closed.size === 1, "the client to close the connection");
  });

  it("a slow but steady body does not time out (each chunk re-arms the deadline)", async () => {
    const server = await rawServer((socket) => {
      socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
      let n = 0;
      const timer = setInterval(() => {
        if (socket.destroyed) return clearInterval(timer);
        if (n++ < 8) socket.write("1\r\nx\r\n");
        else {
          clearInterval(timer);
          socket.write("0\r\n\r\n");
        }
      }, 60);
    });
    const pool = newPool();
    const r = await send(pool, { origin: server.origin, bodyTimeout: 300 }).done;
    expect(r.error).toBeUndefined();
    expect(r.text).toBe("xxxxxxxx");
  });

  it("the body timeout does not fire while the handler has paused the socket", async () => {
    // The rest of the body follows while the handler is paused: it waits in the socket's buffers.
    const server = await rawServer((socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789");
      setTimeout(() => socket.write("abcdefghij"), 50);
    });
    const pool = newPool();
    let pausedAt = 0;
    const r = send(
      pool,
      { origin: server.origin, bodyTimeout: 150 },
      {
        onData: () => {
          if (pausedAt !== 0) return true;
          pausedAt = performance.now();
          return false;
        },
      },
    );
    await waitFor(() => pausedAt !== 0, "the first body chunk");
    // The scenario itself: the client stays paused for longer than bodyTimeout + a tick.
    await new Promise((resolve) => setTimeout(resolve, 400));
    r.resume!();
    const done = await r.done;
    expect(codeOf(done.error)).toBeUndefined();
    expect(done.text).toBe("0123456789abcdefghij");
  });
});

describe("errors", () => {
  it("connection refused → onError with the net error code ECONNREFUSED", async () => {
    const port = await refusedPort();
    const pool = newPool();
    const r = await send(pool, { origin: `http://127.0.0.1:${port}` }).done;
    expect(codeOf(r.error)).toBe("ECONNREFUSED");
    expect(r.terminal).toBe(1);
    expect(pool.connections).toBe(0);
  });

  it("a malformed response → FLT_UPSTREAM_BAD_RESPONSE and the connection is destroyed", async () => {
    const server = await rawServer((socket, request) => {
      if (request.connection === 0)
        socket.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
      else socket.write(ok("fine"));
    });
    const pool = newPool();
    const r = await send(pool, { origin: server.origin }).done;
    expect(r.error).toBeInstanceOf(UpstreamClientError);
    expect(codeOf(r.error)).toBe(UpstreamClientErrorCode.BadResponse);
    expect(r.status).toBeUndefined();
    expect(pool.connections).toBe(0);
    await waitFor(() => server.closed.size === 1, "the client to close the connection");
    const next = await send(pool, { origin: server.origin }).done;
    expect(next.text).toBe("fine");
    expect(server.sockets).toHaveLength(2);
  });

  it("a malformed chunked body after a good head → FLT_UPSTREAM_BAD_RESPONSE after onHeaders", async () => {
    const server = await rawServer((socket) =>
      socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n"),
    );
    const pool = newPool();
    const r = await send(pool, { origin: server.origin }).done;
    expect(r.status).toBe(200);
    expect(r.text).toBe("abc");
    expect(codeOf(r.error)).toBe(UpstreamClientErrorCode.BadResponse);
    expect(r.terminal).toBe(1);
    await waitFor(() => server.closed.size === 1, "the client to close the connection");
  });

  it("the upstream closing mid-body → FLT_UPSTREAM_SOCKET_CLOSED", async () => {
    const server = await rawServer((socket) =>
      socket.end("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
    );
    const pool = newPool();
    const r = await send(pool, { origin: server.origin }).done;
    expect(r.status).toBe(200);
    expect(codeOf(r.error)).toBe(UpstreamClientErrorCode.SocketClosed);
    expect((r.error as UpstreamClientError).unsent).toBe(false);
    expect(r.terminal).toBe(1);
  });

  it("extra bytes after a complete response → that response completes, the connection is not reused", async () => {
    const server = await rawServer((socket, request) => {
      // Two responses for one request, in one write.
      if (request.connection === 0) socket.write(ok("first") + ok("surplus"));
      else socket.write(ok("fresh"));
    });
    const pool = newPool();
    const a = await send(pool, { origin: server.origin }).done;
    expect(a.completed).toBe(true);
    expect(a.text).toBe("first");
    expect(pool.connections).toBe(0);
    const b = await send(pool, { origin: server.origin }).done;
    expect(b.text).toBe("fresh");
    expect(server.sockets).toHaveLength(2);
    expect(a.terminal).toBe(1);
    expect(b.terminal).toBe(1);
  });

  it("bytes arriving on an idle connection → it is dropped, not handed the next request", async () => {
    const server = await rawServer((socket, request) => {
      if (request.connection === 0) {
        socket.write(ok("first"));
        // Later, while the connection is idle in the pool: a stray response.
        setTimeout(() => socket.write(ok("stray")), 20);
      } else socket.write(ok("fresh"));
    });
    const pool = newPool();
    expect((await send(pool, { origin: server.origin }).done).text).toBe("first");
    await waitFor(() => server.closed.size === 1, "the client to drop the connection");
    const b = await send(pool, { origin: server.origin }).done;
    expect(b.text).toBe("fresh");
    expect(server.sockets).toHaveLength(2);
  });

  it("an invalid request header value fails the request unsent, before anything is written", async () => {
    const server = await rawServer((socket) => socket.write(ok("x")));
    const pool = newPool();
    const r = await send(pool, { origin: server.origin, headers: ["x-bad", "a\r\nInjected: yes"] }).done;
    expect(r.error).toBeInstanceOf(UpstreamClientError);
    expect((r.error as UpstreamClientError).unsent).toBe(true);
    expect(r.terminal).toBe(1);
    expect(server.requests).toHaveLength(0);
  });

  it("an unsupported origin protocol → onError, unsent", async () => {
    const pool = newPool();
    const r = await send(pool, { origin: "ftp://127.0.0.1:21" }).done;
    expect(r.error).toBeInstanceOf(UpstreamClientError);
    expect((r.error as UpstreamClientError).unsent).toBe(true);
  });
});

describe("request bodies", () => {
  function recordingServer() {
    const seen: { headers: IncomingMessage["headers"]; body: Buffer }[] = [];
    return {
      seen,
      server: httpServer((req, res) => {
        const parts: Buffer[] = [];
        req.on("data", (c: Buffer) => parts.push(c));
        req.on("end", () => {
          seen.push({ headers: req.headers, body: Buffer.concat(parts) });
          res.end(sha(Buffer.concat(parts)));
        });
      }),
    };
  }

  function payload(): Buffer[] {
    const big = Buffer.alloc(512 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    // An empty chunk in the middle must not end the chunked body early.
    return [Buffer.from("first\r\n0\r\n\r\n"), Buffer.alloc(0), big, Buffer.from([0, 255, 13, 10])];
  }

  it("a stream of unknown length is sent chunked and arrives intact", async () => {
    const { seen, server: serverPromise } = recordingServer();
    const server = await serverPromise;
    const pool = newPool();
    const parts = payload();
    const r = await send(pool, {
      origin: server.origin,
      method: "POST",
      headers: ["content-type", "application/octet-stream"],
      body: Readable.from(parts),
    }).done;
    expect(r.error).toBeUndefined();
    const expected = Buffer.concat(parts);
    expect(r.text).toBe(sha(expected));
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers["transfer-encoding"]).toBe("chunked");
    expect(seen[0]!.headers["content-length"]).toBeUndefined();
    expect(seen[0]!.body.equals(expected)).toBe(true);
    // The request ended properly: the connection is reused for the next one.
    const again = await send(pool, { origin: server.origin, method: "POST", body: Readable.from(parts) })
      .done;
    expect(again.text).toBe(sha(expected));
    expect(server.sockets).toHaveLength(1);
  });

  it("a stream with its Content-Length among the headers is sent raw", async () => {
    const { seen, server: serverPromise } = recordingServer();
    const server = await serverPromise;
    const pool = newPool();
    const parts = payload();
    const expected = Buffer.concat(parts);
    const r = await send(pool, {
      origin: server.origin,
      method: "PUT",
      headers: ["Content-Length", String(expected.length)],
      body: Readable.from(parts),
    }).done;
    expect(r.text).toBe(sha(expected));
    expect(seen[0]!.headers["transfer-encoding"]).toBeUndefined();
    expect(seen[0]!.headers["content-length"]).toBe(String(expected.length));
    expect(seen[0]!.body.equals(expected)).toBe(true);
    const again = await send(pool, { origin: server.origin }).done;
    expect(again.completed).toBe(true);
    expect(server.sockets).toHaveLength(1);
  });

  it("a Buffer body is sent raw with its Content-Length", async () => {
    const { seen, server: serverPromise } = recordingServer();
    const server = await serverPromise;
    const pool = newPool();
    const body = Buffer.concat(payload());
    const r = await send(pool, {
      origin: server.origin,
      method: "POST",
      headers: ["content-length", String(body.length)],
      body,
    }).done;
    expect(r.text).toBe(sha(body));
    expect(seen[0]!.headers["transfer-encoding"]).toBeUndefined();
    expect(seen[0]!.body.equals(body)).toBe(true);
  });

  it("a streamed body is not read before the connection stands: a refused connection leaves it untouched", async () => {
    const port = await refusedPort();
    const pool = newPool();
    let reads = 0;
    const chunks = [Buffer.from("still "), Buffer.from("here")];
    const body = new Readable({
      read() {
        reads++;
        this.push(chunks.shift() ?? null);
      },
    });
    const r = await send(pool, { origin: `http://127.0.0.1:${port}`, method: "POST", body }).done;
    expect(codeOf(r.error)).toBe("ECONNREFUSED");
    expect(reads).toBe(0);
    expect(body.readableDidRead).toBe(false);
    expect(body.readableFlowing).not.toBe(true);
    // So the very same stream can go to another instance, whole.
    const { seen, server: serverPromise } = recordingServer();
    const server = await serverPromise;
    const retry = await send(pool, { origin: server.origin, method: "POST", body }).done;
    expect(retry.error).toBeUndefined();
    expect(seen[0]!.body.toString()).toBe("still here");
  });

  it("a body stream error fails the request and drops the connection", async () => {
    const server = await httpServer((req, res) => {
      req.on("data", () => {});
      req.on("end", () => res.end("ok"));
      req.on("error", () => {});
    });
    const pool = newPool();
    const body = new Readable({ read() {} });
    const r = send(pool, { origin: server.origin, method: "POST", body });
    body.push("partial");
    await waitFor(() => server.sockets.length === 1, "the connection");
    body.destroy(new Error("client went away"));
    const done = await r.done;
    expect(done.error?.message).toBe("client went away");
    expect(done.terminal).toBe(1);
    expect(pool.connections).toBe(0);
  });
});

describe("backpressure", () => {
  it("onData returning false pauses the socket until resume(); the full body still arrives", async () => {
    // Far more than the kernel's socket buffers hold: a client that kept reading would get it all.
    const body = Buffer.alloc(32 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4096) body[i] = (i >> 12) & 0xff;
    let serverSocket: Socket | undefined;
    const server = await httpServer((req, res) => {
      serverSocket = req.socket;
      res.setHeader("content-length", String(body.length));
      res.end(body);
    });
    const pool = newPool();
    let paused = false;
    let resumes = 0;
    let chunks = 0;
    const r = send(
      pool,
      { origin: server.origin, bodyTimeout: 30_000 },
      {
        onData: () => {
          if (resumes === 0 && !paused) {
            paused = true;
            return false;
          }
          // Later: pause on every 64th chunk and resume on the next turn, through onHeaders' resume.
          if (++chunks % 64 === 0) {
            setImmediate(() => r.resume!());
            return false;
          }
          return true;
        },
      },
    );
    await waitFor(() => paused, "the first body chunk");
    // Paused: the server's socket fills up and stays full; what arrived stays put.
    await waitFor(() => (serverSocket?.writableLength ?? 0) > 0, "the server to be held back");
    const receivedWhilePaused = r.received;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(r.received).toBe(receivedWhilePaused);
    expect(r.received).toBeLessThan(body.length);
    expect(r.completed).toBe(false);
    resumes++;
    r.resume!();
    const done = await r.done;
    expect(done.error).toBeUndefined();
    expect(done.received).toBe(body.length);
    expect(sha(done.body)).toBe(sha(body));
  });

  it("onHeaders returning false holds the body until resume()", async () => {
    let bodyWritten = false;
    const server = await rawServer((socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n");
      setTimeout(() => socket.write("the body", () => (bodyWritten = true)), 20);
    });
    const pool = newPool();
    const r = send(pool, { origin: server.origin }, { onHeaders: () => false });
    await waitFor(() => r.status !== undefined && bodyWritten, "the head and the body to be sent");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(r.received).toBe(0);
    r.resume!();
    const done = await r.done;
    expect(done.text).toBe("the body");
    expect(done.completed).toBe(true);
  });
});

describe("upgrade", () => {
  it("101 hands the socket over: onUpgrade, the connection leaves the pool, bytes flow both ways", async () => {
    const server = await httpServer(() => {});
    let upgradeHeaders: IncomingMessage["headers"] | undefined;
    server.server.on("upgrade", (req: IncomingMessage, socket: Socket) => {
      upgradeHeaders = req.headers;
      socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n");
      socket.on("data", (d: Buffer) => socket.write(`echo:${d.toString()}`));
    });
    const pool = newPool();
    const received: string[] = [];
    const r = await send(
      pool,
      { origin: server.origin, upgrade: "echo" },
      {
        onUpgrade: (_s, _h, socket) =>
          socket.on("data", (d: Buffer) => received.push(d.toString())).on("error", () => {}),
      },
    ).done;
    expect(r.upgrade?.status).toBe(101);
    expect(r.upgrade?.headers).toEqual(["Upgrade", "echo", "Connection", "Upgrade"]);
    expect(r.terminal).toBe(1);
    expect(upgradeHeaders?.upgrade).toBe("echo");
    expect(upgradeHeaders?.connection).toBe("upgrade");
    expect(pool.connections).toBe(0);
    r.upgrade!.socket.write("ping");
    await waitFor(() => received.join("") === "echo:ping", "the echo");
    cleanups.push(() => void r.upgrade!.socket.destroy());
    // Closing the pool does not touch the handed-over socket.
    await pool.close();
    r.upgrade!.socket.write("pong");
    await waitFor(() => received.join("") === "echo:pingecho:pong", "the second echo");
  });

  it("101: bytes that followed the head in the same segment are unshifted onto the socket", async () => {
    const server = await httpServer(() => {});
    server.server.on("upgrade", (_req: IncomingMessage, socket: Socket) => {
      socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nHELLO");
    });
    const pool = newPool();
    const received: string[] = [];
    const r = await send(
      pool,
      { origin: server.origin, upgrade: "echo" },
      {
        onUpgrade: (_s, _h, socket) =>
          socket.on("data", (d: Buffer) => received.push(d.toString())).on("error", () => {}),
      },
    ).done;
    cleanups.push(() => void r.upgrade?.socket.destroy());
    expect(r.upgrade?.status).toBe(101);
    await waitFor(() => received.join("") === "HELLO", "the bytes after the 101 head", 1_000);
  });
});

describe("abort", () => {
  it("abort from onConnect's function after the head destroys the connection and reports once", async () => {
    const server = await rawServer((socket) =>
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome of it"),
    );
    const pool = newPool();
    const reason = new Error("the client went away");
    const recorder = send(
      pool,
      { origin: server.origin },
      {
        onHeaders: () => {
          queueMicrotask(() => {
            recorder.abort!(reason);
            recorder.abort!(new Error("again"));
          });
          return true;
        },
      },
    );
    const r = await recorder.done;
    expect(r.error).toBe(reason);
    expect(r.completed).toBe(false);
    expect(pool.connections).toBe(0);
    await waitFor(() => server.closed.size === 1, "the client to close the connection");
    // Nothing more is reported, even after the socket's close.
    expect(r.terminal).toBe(1);
    expect(r.error).toBe(reason);
  });

  it("abort inside onConnect: nothing is sent and the error is reported once", async () => {
    const server = await rawServer((socket) => socket.write(ok("x")));
    const pool = newPool();
    const reason = new Error("cancelled");
    const r = await send(pool, { origin: server.origin }, { onConnect: (abort) => abort(reason) }).done;
    expect(r.error).toBe(reason);
    expect(r.terminal).toBe(1);
    expect(pool.connections).toBe(0);
    expect(server.requests).toHaveLength(0);
  });

  it("abort while waiting for the head, on a reused connection: no resend", async () => {
    const server = await rawServer((socket, request) => {
      if (request.index === 0) socket.write(ok("first"));
    });
    const pool = newPool();
    expect((await send(pool, { origin: server.origin }).done).text).toBe("first");
    const reason = new Error("stop");
    const r = send(pool, { origin: server.origin, path: "/second" });
    await waitFor(() => server.requests.length === 2, "the second request");
    r.abort!(reason);
    const done = await r.done;
    expect(done.error).toBe(reason);
    await waitFor(() => server.closed.size === 1, "the client to close the connection");
    expect(done.terminal).toBe(1);
    expect(server.sockets).toHaveLength(1);
  });
});

describe("close()", () => {
  it("destroys idle and active connections; a dispatch afterwards fails with FLT_UPSTREAM_CLIENT_CLOSED", async () => {
    const server = await rawServer((socket, request) => {
      if (request.text.startsWith("GET /quick")) socket.write(ok("quick"));
      // "/held" is never answered.
    });
    const pool = newPool();
    expect((await send(pool, { origin: server.origin, path: "/quick" }).done).text).toBe("quick");
    const held = send(pool, { origin: server.origin, path: "/held" });
    const other = send(pool, { origin: server.origin, path: "/held" });
    await waitFor(() => server.requests.length === 3, "the held requests");
    // One idle connection was reused for the first held request; the second opened another.
    expect(server.sockets).toHaveLength(2);
    expect(pool.connections).toBe(2);
    // Make one idle again: a third connection, answered, then idle.
    expect((await send(pool, { origin: server.origin, path: "/quick" }).done).text).toBe("quick");
    expect(pool.connections).toBe(3);
    await pool.close();
    expect(pool.connections).toBe(0);
    const [h, o] = await Promise.all([held.done, other.done]);
    for (const r of [h, o]) {
      expect(r.error).toBeInstanceOf(UpstreamClientError);
      expect(r.completed).toBe(false);
      expect(r.terminal).toBe(1);
    }
    await waitFor(() => server.closed.size === 3, "every connection to close");
    const after = await send(pool, { origin: server.origin }).done;
    expect(codeOf(after.error)).toBe(UpstreamClientErrorCode.Closed);
    expect((after.error as UpstreamClientError).unsent).toBe(true);
    expect(server.sockets).toHaveLength(3);
  });
});
