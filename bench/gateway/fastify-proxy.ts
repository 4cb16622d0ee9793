// Peer: @fastify/http-proxy 11 on Fastify 5 (logger off, its default undici agent: keep-alive,
// up to 128 connections per origin) forwarding every path to UPSTREAM_URL.
// `UPSTREAM_URL=http://127.0.0.1:N PORT=M node fastify-proxy.ts`; listens on 127.0.0.1:PORT.
import proxy from "@fastify/http-proxy";
import Fastify from "fastify";

const upstream = process.env.UPSTREAM_URL;
if (upstream === undefined) throw new Error("UPSTREAM_URL is not set");

const app = Fastify({ logger: false });
await app.register(proxy, { upstream });
await app.listen({ host: "127.0.0.1", port: Number(process.env.PORT ?? 0) });

process.once("SIGTERM", async () => {
  await app.close();
  process.exit(0);
});
