// `node bench/telemetry/request-cost.ts <bare|sampled|full> [requests]`: CPU per request of the
// telemetry benchmark's server (server.ts: the same handler, the same instrumentation) with no
// network: requests are emitted on an `http.Server` that does not listen, over a socket that
// discards what is written, 32 per event-loop turn. What is left is the JavaScript and garbage
// collection cost of the handler and of the instrumentation, without the system calls and
// wake-ups that dominate a loopback run on a small virtual machine (and vary with it). A
// diagnostic for the telemetry benchmark, not a benchmark of an issue; spans are not exported
// (`exporter: "none"`), log lines go to stdout (redirect it to /dev/null).
// FLOTILLA_BENCH_PARTS=trace,metrics,log (default: all) as in server.ts.
import { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { helloServer, isHelloMode } from "./hello-server.ts";

const mode = process.argv[2] ?? "bare";
if (!isHelloMode(mode)) throw new Error("usage: request-cost.ts <bare|sampled|full> [requests]");
const requests = Number(process.argv[3] ?? 1_000_000);
const parts = process.env.FLOTILLA_BENCH_PARTS ?? "trace,metrics,log";

/** A connection that takes every write and never reads. */
class DiscardingSocket extends Duplex {
  readonly remoteAddress = "127.0.0.1";
  readonly remotePort = 40_000;
  override _read(): void {}
  override _write(_chunk: unknown, _encoding: unknown, done: () => void): void {
    done();
  }
}
const socket = new DiscardingSocket() as unknown as Socket;

const server = helloServer(mode, "none");

const rawHeaders = ["Host", "127.0.0.1:8080", "User-Agent", "wrk"];
function serveOne(): void {
  const req = new IncomingMessage(socket);
  req.method = "GET";
  req.url = "/hello";
  req.httpVersion = "1.1";
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  req.rawHeaders = rawHeaders;
  req.headers = { host: "127.0.0.1:8080", "user-agent": "wrk" };
  const res = new ServerResponse(req);
  res.assignSocket(socket);
  server.emit("request", req, res);
  res.detachSocket(socket);
  // What node:http does once the response is written and the socket moves on.
  res.emit("close");
}

function serve(count: number): Promise<void> {
  return new Promise((resolve) => {
    let served = 0;
    const turn = (): void => {
      for (let i = 0; i < 32; i++) serveOne();
      served += 32;
      if (served >= count) resolve();
      else setImmediate(turn);
    };
    turn();
  });
}

await serve(200_000);
const before = process.cpuUsage();
await serve(requests);
const cpu = process.cpuUsage(before);
process.stderr.write(
  `${mode}${mode === "bare" ? "" : ` (${parts})`}: ${((cpu.user + cpu.system) / requests).toFixed(2)} µs CPU per request ` +
    `(user ${(cpu.user / requests).toFixed(2)}, system ${(cpu.system / requests).toFixed(2)})\n`,
);
process.exit(0);
