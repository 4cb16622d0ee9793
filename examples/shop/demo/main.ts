// `npm run demo`: a scripted tour of the running shop (`npm start` first). Every request goes
// through the gateway, except reading traces from the collector and sagas from the orders admin
// API. Prints each pattern with a ✓/✗ verdict; exits 0 when all are ✓. Bounded: about 20 s.
import { randomBytes } from "node:crypto";
import { Collector } from "./collector.ts";
import { Gateway } from "./gateway.ts";
import { SagaAdmin } from "./saga-admin.ts";
import { circuitBreaker } from "./sections/circuit-breaker.ts";
import { exactlyOnce } from "./sections/exactly-once.ts";
import { idempotentRetry, type PlacedOrder } from "./sections/idempotent-retry.ts";
import { loadBalancing } from "./sections/load-balancing.ts";
import { rateLimit } from "./sections/rate-limit.ts";
import { sagaCompensation } from "./sections/saga-compensation.ts";
import { traceWaterfall } from "./sections/trace-waterfall.ts";
import { readShopState, ShopNotRunningError } from "./shop-state.ts";
import type { TourContext } from "./tour-context.ts";
import { dim, TourOutput } from "./tour-output.ts";

const tourLimitMs = 90_000;
const started = performance.now();

// Every wait below is bounded; this is the last resort should the shop stall mid-request.
setTimeout(() => {
  console.error(
    `\n✗ the tour did not finish within ${tourLimitMs / 1000} s; is the shop healthy? (npx flotilla status)`,
  );
  process.exit(1);
}, tourLimitMs).unref();

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

const state = await readShopState().catch((error: unknown) =>
  fail(
    error instanceof ShopNotRunningError ? error.message : `cannot read the shop's state: ${String(error)}`,
  ),
);
const gateway = new Gateway(state.urls.gateway);
gateway.onWait = (message) => console.log(dim(`   … ${message}`));
const run = randomBytes(3).toString("hex");
const alice = await gateway
  .login("alice@example.com")
  .catch((error: unknown) =>
    fail(
      `the shop is not answering at ${state.urls.gateway} (${error instanceof Error ? error.message : String(error)}); is it still starting? (npx flotilla status)`,
    ),
  );
const newUser = (role: string) => gateway.signUp(alice, `demo-${run}-${role}@example.com`, `Demo ${role}`);
const out = new TourOutput();
const ctx: TourContext = {
  gateway,
  collector: new Collector(state.urls.collector),
  sagas: new SagaAdmin(state.urls.registry),
  registryUrl: state.urls.registry,
  out,
  shopper: await newUser("shopper"),
  newUser,
};

console.log(`Flotilla shop tour — gateway ${state.urls.gateway}, run ${run}`);
console.log(dim(`shopper ${ctx.shopper.email} (${ctx.shopper.id}), created by ${alice.email}`));

async function section<T>(index: number, title: string, body: () => Promise<T>): Promise<T | undefined> {
  try {
    return await body();
  } catch (error) {
    if (out.verdicts.length < index) out.section(index, title, "");
    out.verdict(false, `the section failed: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

await section(1, "Discovery and load balancing", () => loadBalancing(ctx));
await section(2, "Circuit breaker and fallback (recommendations)", () => circuitBreaker(ctx));
await section(3, "Per-user rate limit", () => rateLimit(ctx));
await section(4, "Saga compensation", () => sagaCompensation(ctx));
const order: PlacedOrder | undefined = await section(5, "A retried idempotent call", () =>
  idempotentRetry(ctx),
);
await section(6, "An event consumed exactly once", () => exactlyOnce(ctx, order));
await section(7, "A trace waterfall", () => traceWaterfall(ctx, order));

const passed = out.verdicts.filter((v) => v.ok).length;
console.log(
  `\n${passed === out.verdicts.length ? "✓" : "✗"} ${passed} of ${out.verdicts.length} patterns behaved as expected`,
);
for (const v of out.verdicts) console.log(`  ${v.ok ? "✓" : "✗"} ${v.title}`);
console.log(dim(`tour took ${((performance.now() - started) / 1000).toFixed(1)} s`));
process.exit(passed === out.verdicts.length ? 0 : 1);
