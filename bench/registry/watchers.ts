// A process of watchers for the registry benchmark: `node watchers.ts <blocking|sse|etcd> <url> <count>`.
// Each watcher is what one service instance would hold: its own connection (an undici Client, or
// an etcd3 client of its own), so the server under test writes one message per watcher. "sse"
// watchers are discovery caches (which follow SSE streams); "blocking" ones loop on blocking queries.
// Protocol on stdin/stdout, one JSON object per line: it prints {"ready":true} once every watcher
// is connected; on {"expect":id} it answers {"armed":id}, then {"id":id,"times":[…]} with the
// epoch-ms time (performance.timeOrigin + now, comparable across processes) at which each of its
// watchers first held a result containing the instance id. On {"verify":true} ("sse" and "blocking")
// it answers {"verified":{"<ids, comma-separated>":<watchers holding that list>}}: every watcher's
// whole list as it holds it, for the caller to compare with the registry's.
import { createInterface } from "node:readline";
import { discoveryCache, registryClient } from "@flotilla/registry";
import { Etcd3 } from "etcd3";
import { Client } from "undici";

const [mode, url, countArg] = process.argv.slice(2);
const count = Number(countArg);
if (mode === undefined || url === undefined || !(count > 0)) {
  throw new Error("usage: watchers.ts <blocking|sse|etcd> <url> <count>");
}

const now = () => performance.timeOrigin + performance.now();
let round: { id: string; times: number[]; seen: Uint8Array; left: number } | undefined;
type Instances = readonly { readonly id: string }[];
/** Each watcher's latest list ("sse" and "blocking"). */
const lists: Instances[] = Array.from({ length: count }, () => []);
function received(watcher: number, instances: Instances): void {
  lists[watcher] = instances;
  const r = round;
  if (r === undefined || r.seen[watcher] === 1) return;
  for (const { id } of instances) {
    if (id !== r.id) continue;
    r.seen[watcher] = 1;
    r.times.push(now());
    if (--r.left === 0) {
      round = undefined;
      process.stdout.write(`${JSON.stringify({ id: r.id, times: r.times })}\n`);
    }
    return;
  }
}

const closers: (() => Promise<void> | void)[] = [];
let connected = 0;
const ready = new Promise<void>((resolve) => {
  const onConnected = () => {
    if (++connected === count) resolve();
  };
  if (mode === "etcd") {
    const clients = Array.from({ length: count }, () => new Etcd3({ hosts: url }));
    for (let w = 0; w < count; w++) {
      void clients[w]!.watch()
        .prefix("bench/")
        .create()
        .then((watcher) => {
          watcher.on("put", (kv) => received(w, [{ id: kv.key.toString().slice("bench/".length) }]));
          closers.push(() => watcher.cancel());
          onConnected();
        });
    }
    closers.push(() => {
      for (const client of clients) client.close();
    });
    return;
  }
  for (let w = 0; w < count; w++) {
    const abort = new AbortController();
    const dispatcher = new Client(url, { keepAliveTimeout: 120_000 });
    const client = registryClient({ url, dispatcher, timeoutMs: 120_000 });
    if (mode === "sse") {
      // As a service watches: a discovery cache, which follows the service's SSE stream.
      const cache = discoveryCache({ client });
      cache.onChange("bench", (instances) => received(w, instances));
      void cache.ready("bench").then(onConnected);
      closers.push(async () => {
        await cache.close();
        await client.close();
        await dispatcher.close();
      });
      continue;
    }
    closers.push(async () => {
      abort.abort();
      await client.close();
      await dispatcher.close();
    });
    void (async () => {
      let index: number | undefined;
      let first = true;
      while (!abort.signal.aborted) {
        try {
          const r = await client.instances("bench", {
            ...(index === undefined ? {} : { index }),
            waitMs: 60_000,
            signal: abort.signal,
          });
          index = r.index;
          if (first) {
            first = false;
            onConnected();
          }
          received(w, r.instances);
        } catch {
          if (abort.signal.aborted) return;
        }
      }
    })();
  }
});

await ready;
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
createInterface({ input: process.stdin }).on("line", (line) => {
  const message = JSON.parse(line) as { expect?: string; verify?: boolean };
  if (message.expect !== undefined) {
    round = { id: message.expect, times: [], seen: new Uint8Array(count), left: count };
    process.stdout.write(`${JSON.stringify({ armed: message.expect })}\n`);
  }
  if (message.verify) {
    const verified: Record<string, number> = {};
    for (const list of lists) {
      const key = list.map((i) => i.id).join(",");
      verified[key] = (verified[key] ?? 0) + 1;
    }
    process.stdout.write(`${JSON.stringify({ verified })}\n`);
  }
});
process.stdin.once("end", async () => {
  await Promise.allSettled(closers.map((close) => close()));
  process.exit(0);
});
