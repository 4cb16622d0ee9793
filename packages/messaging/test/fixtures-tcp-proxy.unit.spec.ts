// The TCP proxy fixture against a local echo server: forwarding, cut, stop/start on the same port.
import { once } from "node:events";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type TcpProxy, tcpProxy } from "./fixtures/tcp-proxy.js";

let echo: Server;
let echoPort: number;
let proxy: TcpProxy | undefined;
const sockets = new Set<Socket>();

beforeEach(async () => {
  echo = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.pipe(socket);
  });
  echo.listen({ host: "127.0.0.1", port: 0 });
  await once(echo, "listening");
  echoPort = (echo.address() as { port: number }).port;
});

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

async function openClient(port: number): Promise<Socket> {
  const socket = tcpConnect({ host: "127.0.0.1", port });
  await once(socket, "connect");
  return socket;
}

async function roundTrip(socket: Socket, text: string): Promise<string> {
  const received = once(socket, "data");
  socket.write(text);
  const [chunk] = (await received) as [Buffer];
  return chunk.toString("utf8");
}

/** Resolves with the error code of a connection attempt that fails, or "connected". */
async function connectOutcome(port: number): Promise<string> {
  const socket = tcpConnect({ host: "127.0.0.1", port });
  try {
    await once(socket, "connect");
    return "connected";
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? "unknown";
  } finally {
    socket.destroy();
  }
}

describe("tcpProxy", () => {
  it("forwards bytes both ways and counts open connections", async () => {
    proxy = await tcpProxy({ host: "127.0.0.1", port: echoPort });
    expect(proxy.host).toBe("127.0.0.1");
    expect(proxy.port).not.toBe(echoPort);
    const client = await openClient(proxy.port);
    expect(await roundTrip(client, "hello")).toBe("hello");
    expect(proxy.connections).toBe(1);
    const closed = once(client, "close");
    client.end();
    await closed;
    await expect.poll(() => proxy?.connections, { timeout: 2_000 }).toBe(0);
  });

  it("cut() drops open connections and keeps accepting new ones", async () => {
    proxy = await tcpProxy({ host: "127.0.0.1", port: echoPort });
    const client = await openClient(proxy.port);
    const errors: string[] = [];
    client.on("error", (error: NodeJS.ErrnoException) => errors.push(error.code ?? "unknown"));
    expect(await roundTrip(client, "before")).toBe("before");
    const closed = new Promise((resolve) => client.once("close", resolve));
    proxy.cut();
    await closed;
    expect(errors).toEqual(["ECONNRESET"]);
    expect(proxy.connections).toBe(0);
    await expect.poll(() => sockets.size, { timeout: 2_000 }).toBe(0);

    const again = await openClient(proxy.port);
    expect(await roundTrip(again, "after")).toBe("after");
    again.destroy();
  });

  it("stop() refuses new connections; start() listens again on the same port", async () => {
    proxy = await tcpProxy({ host: "127.0.0.1", port: echoPort });
    const port = proxy.port;
    const client = await openClient(port);
    client.on("error", () => {});
    const closed = new Promise((resolve) => client.once("close", resolve));
    await proxy.stop();
    await closed;
    expect(await connectOutcome(port)).toBe("ECONNREFUSED");

    await proxy.start();
    expect(proxy.port).toBe(port);
    const again = await openClient(port);
    expect(await roundTrip(again, "back")).toBe("back");
    again.destroy();
  });

  it("close() is final and idempotent", async () => {
    proxy = await tcpProxy({ host: "127.0.0.1", port: echoPort });
    const port = proxy.port;
    await proxy.close();
    await proxy.close();
    expect(await connectOutcome(port)).toBe("ECONNREFUSED");
    await expect(proxy.start()).rejects.toThrow(/after close/);
  });
});
