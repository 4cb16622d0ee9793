// `npm start` (until the shop lands): the resilience policies in front of a flaky local HTTP
// dependency, narrated as they act. Runs for FLOTILLA_DEMO_SECONDS (default 12) and exits; only
// 127.0.0.1 is contacted.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  bulkhead,
  circuitBreaker,
  exponentialBackoff,
  fallback,
  httpRetryClassifier,
  pipeline,
  retry,
  retryBudget,
  timeout,
} from "@flotilla/resilience";

const seconds = Number(process.env.FLOTILLA_DEMO_SECONDS ?? 12);
const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;

/** What the dependency does at each moment: healthy, flaky, down, then healthy again. */
function phase(): { name: string; failRate: number; delayMs: number } {
  const t = elapsed() / seconds;
  if (t < 0.25) return { name: "healthy", failRate: 0, delayMs: 5 };
  if (t < 0.5) return { name: "flaky (40 % 503)", failRate: 0.4, delayMs: 5 };
  if (t < 0.75) return { name: "down (slow 503s)", failRate: 1, delayMs: 400 };
  return { name: "recovered", failRate: 0, delayMs: 5 };
}

const server = createServer((_req, res) => {
  const now = phase();
  setTimeout(() => {
    if (Math.random() < now.failRate) {
      res.writeHead(503, { "content-type": "application/problem+json", "retry-after": "0" });
      res.end(JSON.stringify({ title: "Service Unavailable", status: 503 }));
    } else {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ items: ["tent", "stove", "lantern"], servedAt: elapsed().toFixed(1) }));
    }
  }, now.delayMs);
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/recommendations`;

const breaker = circuitBreaker({
  name: "recommendations",
  slidingWindowSize: 20,
  minimumNumberOfCalls: 10,
  waitDurationInOpenState: "1s",
  permittedNumberOfCallsInHalfOpenState: 3,
  slowCallDurationThreshold: "250ms",
});
const retries = retry({
  ...httpRetryClassifier(),
  maxAttempts: 3,
  backoff: exponentialBackoff({ initialDelay: "20ms", maxDelay: "200ms" }),
  budget: retryBudget({ ratio: 0.2, minRetriesPerSecond: 5 }),
});
const fallbacks = fallback({ staleCache: { ttl: "1m" }, value: { items: [], degraded: true } });
const policy = pipeline(
  fallbacks,
  timeout({ duration: "800ms" }),
  retries,
  breaker,
  timeout({ duration: "300ms", strategy: "aggressive" }),
  bulkhead({ maxConcurrent: 8, maxQueue: 16 }),
);

const counts = { sent: 0, answered: 0, stale: 0, value: 0, failed: 0, retries: 0 };
const live = () => counts.answered - counts.stale - counts.value;
breaker.events.subscribe((e) => {
  if (e.type === "stateTransition") console.log(`  ⚡ breaker ${e.from} → ${e.to}`);
});
retries.events.subscribe((e) => {
  if (e.type === "retry") counts.retries++;
});
fallbacks.events.subscribe((e) => {
  if (e.type === "fallback") e.strategy === "staleCache" ? counts.stale++ : counts.value++;
});

async function callDependency(signal: AbortSignal | undefined): Promise<unknown> {
  const res = await fetch(url, { signal: signal ?? null });
  if (!res.ok) {
    await res.body?.cancel();
    throw Object.assign(new Error(`recommendations answered ${res.status}`), {
      status: res.status,
      headers: res.headers,
    });
  }
  return res.json();
}

console.log(`Flotilla resilience demo: a dependency at ${url}, 20 requests/s for ${seconds} s.`);
console.log(
  "Policies: fallback(stale cache, then a default) ∘ timeout 800ms ∘ retry ×3 (budget 20 %) ∘ breaker ∘ timeout 300ms ∘ bulkhead 8\n",
);

let lastPhase = "";
const inFlight = new Set<Promise<unknown>>();
const ticker = setInterval(() => {
  const s = breaker.snapshot();
  console.log(
    `t=${elapsed().toFixed(0).padStart(2)}s  sent ${counts.sent}  live ${live()}  stale-cache ${counts.stale}  default ${counts.value}  failed ${counts.failed}  retries ${counts.retries}  breaker ${s.state} (failure rate ${s.failureRate < 0 ? "–" : `${s.failureRate.toFixed(0)} %`})`,
  );
}, 1000);

while (elapsed() < seconds) {
  const now = phase();
  if (now.name !== lastPhase) {
    console.log(`\n▶ dependency is now ${now.name}`);
    lastPhase = now.name;
  }
  counts.sent++;
  const call = policy
    .execute((ctx) => callDependency(ctx.signal), { key: "user-1" })
    .then(
      () => counts.answered++,
      () => counts.failed++,
    )
    .finally(() => inFlight.delete(call));
  inFlight.add(call);
  await new Promise((resolve) => setTimeout(resolve, 50));
}

await Promise.allSettled(inFlight);
clearInterval(ticker);
server.closeAllConnections();
await new Promise((resolve) => server.close(resolve));
console.log(
  `\nDone: ${counts.sent} requests, ${live()} answered live, ${counts.stale} from the stale cache, ${counts.value} with the default, ${counts.failed} failed.`,
);
