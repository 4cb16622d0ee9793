/**
 * Every code example of packages/resilience/README.md, copied verbatim, so that the examples are
 * proven to compile and run, and the claims around them are checked. The examples import from the
 * package's public entry points, as a user would; the last test fails when a README example is not
 * found here.
 *
 * The examples use the default clock. The test points `systemClock` at a `FakeClock`, starts an
 * example without awaiting it, moves the fake time, then awaits it: nothing here sleeps.
 */
import { readFileSync } from "node:fs";
import {
  BreakerOpenError,
  BreakerState,
  BulkheadQueueTimeoutError,
  bulkhead,
  type CircuitBreaker,
  circuitBreaker,
  Deadline,
  fallback,
  gcraDecide,
  gcraLimiter,
  hedging,
  httpRetryClassifier,
  isBreakerOpenError,
  isBulkheadFullError,
  isConfigError,
  isPending,
  isRateLimitedError,
  isTimeoutError,
  keyedBulkhead,
  type LaterQueue,
  pipeline,
  RateLimitedError,
  type RateLimitStore,
  rateLimiter,
  resilienceRegistry,
  retry,
  retryBudget,
  systemClock,
  TimeoutError,
  timeout,
} from "@flotilla/resilience";
import { FakeClock } from "@flotilla/resilience/testing";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { outcome } from "./support/outcome.js";

/** An operation's promise that settles only when `signal` aborts, rejecting with its reason. */
function untilAborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

class CardDeclinedError extends Error {}
class OutOfStockError extends Error {}

describe("README examples", () => {
  let clock: FakeClock;
  let logged: unknown[][];
  let warned: unknown[][];
  let errored: unknown[][];

  beforeEach(() => {
    clock = new FakeClock();
    vi.spyOn(systemClock, "now").mockImplementation(() => clock.now());
    vi.spyOn(systemClock, "setTimeout").mockImplementation((callback, ms) => clock.setTimeout(callback, ms));
    vi.spyOn(systemClock, "clearTimeout").mockImplementation((handle) => clock.clearTimeout(handle));
    logged = [];
    warned = [];
    errored = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void logged.push(args));
    vi.spyOn(console, "warn").mockImplementation((...args: unknown[]) => void warned.push(args));
    vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void errored.push(args));
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("top: retry, breaker and timeout with the caller's AbortSignal", async () => {
    const id = "u-1";
    let hang = false;
    const users = {
      get: (userId: string, { signal }: { signal?: AbortSignal | undefined }) =>
        hang ? untilAborted(signal) : Promise.resolve({ id: userId, name: "Ada" }),
    };

    const { usersPolicy, user } = await (async () => {
      const usersPolicy = pipeline(
        retry({ maxAttempts: 3 }), // three calls in all
        circuitBreaker({
          name: "users",
          slidingWindowSize: 20,
          minimumNumberOfCalls: 10,
          waitDurationInOpenState: "10s",
        }),
        timeout({ duration: "2s" }), // per attempt
      );

      const request = new AbortController(); // abort it when the client goes away
      const user = await usersPolicy.execute(({ signal }) => users.get(id, { signal }), {
        signal: request.signal,
      });
      return { usersPolicy, user };
    })();
    expect(user).toEqual({ id: "u-1", name: "Ada" });
    const breaker = usersPolicy.policies[1] as CircuitBreaker;

    // Each attempt is aborted after 2 s; three attempts, each recorded by the breaker.
    hang = true;
    const timedOut = outcome(usersPolicy.execute(({ signal }) => users.get(id, { signal })));
    await clock.advance(2_000 + 100 + 2_000 + 200 + 2_000);
    expect(timedOut.error).toBeInstanceOf(TimeoutError);
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 4, failedCalls: 3 });

    // A caller abort ends the call at once with its reason and is not recorded.
    const request = new AbortController();
    const aborted = outcome(
      usersPolicy.execute(({ signal }) => users.get(id, { signal }), { signal: request.signal }),
    );
    await clock.flush();
    request.abort(new Error("client went away"));
    await clock.flush();
    expect(aborted.error).toEqual(new Error("client went away"));
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 4, failedCalls: 3 });
    await clock.advance(2_000);
    expect(clock.pendingTimers).toBe(0);
  });

  it("circuit breaker", async () => {
    const order = { id: "o-1", amount: 42 };
    let outcome: "ok" | "declined" | "down" = "ok";
    const payments = {
      charge: async (_order: typeof order, _options: { signal?: AbortSignal | undefined }) => {
        if (outcome === "declined") throw new CardDeclinedError("declined");
        if (outcome === "down") throw new Error("connection reset");
        return { id: "r-1" };
      },
    };

    const { breaker } = await (async () => {
      const breaker = circuitBreaker({
        name: "payments",
        slidingWindowSize: 20, // the last 20 calls…
        minimumNumberOfCalls: 10, // …once at least 10 are recorded
        failureRateThreshold: 50, // open at 50 % failures or more
        slowCallDurationThreshold: "2s", // a call longer than 2 s is slow…
        slowCallRateThreshold: 80, // …and 80 % slow calls open it too
        waitDurationInOpenState: "30s",
        permittedNumberOfCallsInHalfOpenState: 3,
        recordExceptions: (error) => !(error instanceof CardDeclinedError), // a refusal is not an outage
      });

      try {
        const receipt = await breaker.execute(({ signal }) => payments.charge(order, { signal }));
        console.log("charged", receipt.id);
      } catch (error) {
        if (isBreakerOpenError(error))
          console.log(`payments unavailable; try again in ${error.retryAfterMs} ms`);
        else throw error;
      }
      return { breaker };
    })();
    expect(logged).toEqual([["charged", "r-1"]]);

    // A declined card is rethrown but counted as a success.
    outcome = "declined";
    await expect(breaker.execute(() => payments.charge(order, {}))).rejects.toBeInstanceOf(CardDeclinedError);
    expect(breaker.snapshot()).toMatchObject({ bufferedCalls: 2, failedCalls: 0 });

    // 8 outages make 8 of 10 calls failed: the breaker opens and refuses for 30 s.
    outcome = "down";
    for (let i = 0; i < 8; i++) await breaker.execute(() => payments.charge(order, {})).catch(() => {});
    expect(breaker.state).toBe(BreakerState.OPEN);
    await expect(breaker.execute(() => payments.charge(order, {}))).rejects.toSatisfy(
      (error: unknown) => error instanceof BreakerOpenError && error.retryAfterMs === 30_000,
    );

    // After the wait, three probes are judged together.
    await clock.advance(30_000);
    outcome = "ok";
    for (let i = 0; i < 2; i++) await breaker.execute(() => payments.charge(order, {}));
    expect(breaker.state).toBe(BreakerState.HALF_OPEN);
    await breaker.execute(() => payments.charge(order, {}));
    expect(breaker.state).toBe(BreakerState.CLOSED);
  });

  it("retry with a backoff, a predicate and a budget", async () => {
    const sku = "sku-7";
    const attempts: number[] = [];
    let failures = 2;
    let outOfStock = false;
    const inventory = {
      reserve: async (item: string, { attempt }: { attempt?: number | undefined }) => {
        attempts.push(attempt ?? 0);
        if (outOfStock) throw new OutOfStockError(item);
        if (failures-- > 0) throw new Error("ECONNRESET");
        return { reservation: `${item}@${attempt}` };
      },
    };

    const example = (async () => {
      const inventoryBudget = retryBudget({ ratio: 0.2, minRetriesPerSecond: 10 }); // share it per dependency
      const retryInventory = retry({
        name: "inventory",
        maxAttempts: 4, // the first call and up to three retries
        backoff: { type: "decorrelatedJitter", initialDelay: "100ms", maxDelay: "2s" },
        retryOn: (error) => !(error instanceof OutOfStockError),
        budget: inventoryBudget,
      });

      const reservation = await retryInventory.execute(({ attempt }) => inventory.reserve(sku, { attempt }));
      return { retryInventory, inventoryBudget, reservation };
    })();
    await clock.advance(100 + 300);
    const { retryInventory, inventoryBudget, reservation } = await example;
    expect(reservation).toEqual({ reservation: "sku-7@3" });
    expect(attempts).toEqual([1, 2, 3]);
    expect(inventoryBudget.snapshot()).toMatchObject({ requests: 1, retries: 2 });

    // An error that retryOn refuses is rethrown at once, unchanged.
    outOfStock = true;
    attempts.length = 0;
    await expect(
      retryInventory.execute(({ attempt }) => inventory.reserve(sku, { attempt })),
    ).rejects.toBeInstanceOf(OutOfStockError);
    expect(attempts).toEqual([1]);
    expect(retryInventory.snapshot()).toMatchObject({ successAfterRetry: 1, failedWithoutRetry: 1 });
    expect(clock.pendingTimers).toBe(0);
  });

  it("retry for HTTP: classifier and Retry-After", async () => {
    const calledAt: number[] = [];
    const signals: unknown[] = [];
    let statuses = [503, 200];
    const fetch: typeof globalThis.fetch = async (_input, init) => {
      signals.push(init?.signal);
      calledAt.push(clock.now());
      const status = statuses.shift() ?? 503;
      return new Response(null, { status, headers: status === 503 ? { "retry-after": "2" } : {} });
    };

    const example = (async () => {
      const retryHttp = retry({ maxAttempts: 3, maxRetryAfter: "10s", ...httpRetryClassifier() });
      const response = await retryHttp.execute(({ signal }) =>
        fetch("http://inventory.internal/stock/42", { signal: signal ?? null }),
      );
      console.log(response.status);
      return { retryHttp };
    })();
    await clock.advance(2_000);
    const { retryHttp } = await example;
    expect(logged).toEqual([[200]]);
    expect(calledAt).toEqual([0, 2_000]); // exactly the Retry-After
    expect(signals).toEqual([null, null]); // no caller signal: `signal ?? null`

    // When the attempts run out, the last 503 response is returned, not thrown.
    statuses = [];
    calledAt.length = 0;
    const exhausted = outcome(retryHttp.execute(() => fetch("http://inventory.internal/stock/42")));
    await clock.advance(4_000);
    expect(exhausted.value?.status).toBe(503);
    expect(calledAt).toEqual([2_000, 4_000, 6_000]);
  });

  it("timeout and deadlines", async () => {
    const terms = "red shoes";
    let hang = false;
    const timeoutsSeen: (number | undefined)[] = [];
    let searchIndex = {
      query: (
        _terms: string,
        { signal, timeoutMs }: { signal?: AbortSignal | undefined; timeoutMs?: number | undefined },
      ) => {
        timeoutsSeen.push(timeoutMs);
        return hang ? untilAborted(signal) : Promise.resolve(["hit-1", "hit-2"]);
      },
    };

    const example = async () => {
      const searchPolicy = pipeline(
        timeout({ name: "search-total", duration: "2s" }), // all attempts and waits together
        retry({ maxAttempts: 5 }),
        timeout({ name: "search-attempt", duration: "500ms", strategy: "aggressive" }),
      );

      try {
        const hits = await searchPolicy.execute(
          ({ signal, deadline }) => searchIndex.query(terms, { signal, timeoutMs: deadline?.remaining() }),
          { deadline: Deadline.after(1_500) }, // e.g. what the gateway has left for this request
        );
        console.log(hits.length);
      } catch (error) {
        if (isTimeoutError(error)) console.log(`search gave up after ${error.timeoutMs} ms`);
        else throw error;
      }
    };

    await example();
    expect(logged).toEqual([[2]]);
    expect(timeoutsSeen).toEqual([500]); // the attempt's own limit, within the caller's 1.5 s
    await clock.advance(500);

    // Every attempt hangs: attempts of 500 ms, then the caller's deadline ends the call at 1.5 s.
    hang = true;
    logged.length = 0;
    const running = example();
    await clock.advance(1_500);
    await running;
    expect(logged).toEqual([["search gave up after 1500 ms"]]);
    expect(clock.pendingTimers).toBe(0);

    // A deadline already spent fails before the operation starts.
    searchIndex = { query: () => Promise.reject(new Error("must not run")) };
    await expect(
      timeout({ duration: "2s" }).execute(() => searchIndex.query(terms, {}), {
        deadline: Deadline.after(0),
      }),
    ).rejects.toMatchObject({ code: "FLT_DEADLINE_EXCEEDED" });
  });

  it("bulkhead and keyed bulkhead", async () => {
    const reportId = "rep-1";
    const order = { id: "o-1" };
    const renderer = {
      render: async (_id: string, _options: { signal?: AbortSignal | undefined }) => new Uint8Array(3),
    };
    const shipping = { quote: async (_order: typeof order) => ({ price: 9.5 }) };

    const { reports, perDependency, quote } = await (async () => {
      const reports = bulkhead({ name: "reports", maxConcurrent: 4, maxQueue: 20, maxQueueWait: "1s" });
      try {
        const pdf = await reports.execute(({ signal }) => renderer.render(reportId, { signal }));
        console.log(pdf.byteLength);
      } catch (error) {
        if (isBulkheadFullError(error)) console.log("too busy, try later");
        else throw error;
      }

      // One isolated bulkhead per dependency, created on first use and named "deps/<key>".
      const perDependency = keyedBulkhead({ name: "deps", maxConcurrent: 10 }, { maxKeys: 100 });
      const quote = await perDependency.execute(() => shipping.quote(order), { key: "shipping" });
      return { reports, perDependency, quote };
    })();
    expect(logged).toEqual([[3]]);
    expect(quote).toEqual({ price: 9.5 });
    expect(perDependency.get("shipping").name).toBe("deps/shipping");
    await expect(perDependency.execute(() => 1)).rejects.toBeInstanceOf(TypeError);

    // 4 running and 20 queued: the next call is refused at once; a queued one gives up after 1 s.
    const never = () => new Promise<never>(() => {});
    const calls = Array.from({ length: 24 }, () => outcome(reports.execute(never)));
    await expect(reports.execute(never)).rejects.toSatisfy(isBulkheadFullError);
    expect(reports.snapshot()).toMatchObject({ inFlight: 4, queued: 20, rejected: 1 });
    await clock.advance(1_000);
    expect(calls.slice(0, 4).some(({ settled }) => settled)).toBe(false);
    expect(calls.slice(4).every(({ error }) => error instanceof BulkheadQueueTimeoutError)).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it("rate limiter (Resilience4j semantics)", async () => {
    const address = "1 Main St";
    const geo = {
      lookup: async (_address: string, _options: { signal?: AbortSignal | undefined }) => ({
        lat: 1,
        lon: 2,
      }),
    };

    const { geoLimiter } = await (async () => {
      const geoLimiter = rateLimiter({
        name: "geo-api",
        limitForPeriod: 10,
        limitRefreshPeriod: "1s",
        timeoutDuration: "500ms",
      });
      const place = await geoLimiter.execute(({ signal }) => geo.lookup(address, { signal }));
      console.log(place.lat, place.lon);
      return { geoLimiter };
    })();
    expect(logged).toEqual([[1, 2]]);

    // The cycle's other 9 permits go at once; the 11th would wait 1 s > 500 ms: refused at once.
    for (let i = 0; i < 9; i++) await geoLimiter.execute(() => geo.lookup(address, {}));
    await expect(geoLimiter.execute(() => geo.lookup(address, {}))).rejects.toSatisfy(
      (error: unknown) => error instanceof RateLimitedError && error.retryAfterMs === 1_000,
    );

    // 600 ms into the cycle the wait is 400 ms: the call reserves a permit of the next cycle.
    await clock.advance(600);
    const reserved = outcome(geoLimiter.execute(() => geo.lookup(address, {})));
    await clock.advance(399);
    expect(geoLimiter.snapshot()).toMatchObject({ availablePermissions: -1, waitingThreads: 1 });
    await clock.advance(1);
    expect(reserved.value).toEqual({ lat: 1, lon: 2 });
    expect(clock.pendingTimers).toBe(0);
  });

  it("GCRA limiter", async () => {
    const clientIp = "203.0.113.9";
    const request = { path: "/items" };
    const handler = async (req: typeof request) => `ok ${req.path}`;
    const replies: [number, string][] = [];
    const reply = {
      status: (code: number) => ({
        header: (name: string, value: string) => replies.push([code, `${name}: ${value}`]),
      }),
    };

    const { perClient, answer } = await (async () => {
      const perClient = gcraLimiter({ name: "public-api", rate: 100, period: "1m", burst: 20 });

      const decision = await perClient.acquire(clientIp); // { allowed, remaining, retryAfterMs, resetAfterMs, limit }
      if (!decision.allowed) {
        reply.status(429).header("retry-after", String(Math.ceil(decision.retryAfterMs / 1000)));
      }

      // Or as a policy, keyed by ctx.key (calls without a key share the key "default"):
      const answer = await perClient.execute(() => handler(request), { key: clientIp });
      return { perClient, answer };
    })();
    expect(answer).toBe("ok /items");
    expect(replies).toEqual([]);

    // An idle key gets burst + 1 = 21 permits; then one every 60 s / 100 = 600 ms.
    for (let i = 0; i < 19; i++) expect(perClient.acquire(clientIp)).toMatchObject({ allowed: true });
    const refused = perClient.acquire(clientIp);
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 600, limit: 21 });
    await expect(perClient.execute(() => handler(request), { key: clientIp })).rejects.toSatisfy(
      isRateLimitedError,
    );
    expect(perClient.acquire("198.51.100.1")).toMatchObject({ allowed: true, remaining: 20 });
  });

  it("a RateLimitStore built on gcraDecide", () => {
    const sharedLimiter = (() => {
      const tats = new Map<string, number>(); // stands in for a shared store
      const mapStore: RateLimitStore = {
        acquire(key, rule, permits, now) {
          const { decision, newTat } = gcraDecide(tats.get(key), rule, permits, now);
          if (decision.allowed && newTat !== undefined) tats.set(key, newTat);
          return decision;
        },
      };
      const sharedLimiter = gcraLimiter({ rate: 5, period: "1s", store: mapStore });
      return sharedLimiter;
    })();

    for (let i = 0; i < 5; i++) expect(sharedLimiter.acquire("k")).toMatchObject({ allowed: true });
    expect(sharedLimiter.acquire("k")).toMatchObject({ allowed: false, retryAfterMs: 200 });
  });

  it("fallback: stale cache, value and later", async () => {
    const userId = "u-1";
    const order = { sku: "sku-1", quantity: 1 };
    let recommendationsUp = true;
    const recommendations = {
      forUser: async (_user: string) => {
        if (!recommendationsUp) throw new Error("recommendations down");
        return ["book", "lamp"];
      },
    };
    const orders = {
      place: async (_order: typeof order): Promise<{ orderId: string }> => {
        throw new Error("orders down");
      },
    };
    const jobs: unknown[] = [];
    const outbox: LaterQueue = { enqueue: (job) => `job-${jobs.push(job)}` };

    const { recommendationsFallback } = await (async () => {
      const recommendationsFallback = fallback({ staleCache: { ttl: "5m" }, value: [] as string[] });
      const items = await recommendationsFallback.execute(() => recommendations.forUser(userId), {
        key: userId,
      });
      console.log(items.length);

      const orderFallback = fallback({
        later: { queue: outbox, job: (_ctx, _error) => ({ type: "place-order", order }) },
      });
      const placed = await orderFallback.execute(() => orders.place(order)); // Order | PendingMarker
      if (isPending(placed))
        console.log(`accepted, will be placed later as job ${placed.id}`); // HTTP 202
      else console.log(`placed ${placed.orderId}`);
      return { recommendationsFallback };
    })();
    expect(logged).toEqual([[2], ["accepted, will be placed later as job job-1"]]);
    expect(jobs).toEqual([{ type: "place-order", order }]);

    // The last good result is served while younger than 5 minutes, then the constant.
    recommendationsUp = false;
    await clock.advance(299_999);
    await expect(
      recommendationsFallback.execute(() => recommendations.forUser(userId), { key: userId }),
    ).resolves.toEqual(["book", "lamp"]);
    await clock.advance(1);
    await expect(
      recommendationsFallback.execute(() => recommendations.forUser(userId), { key: userId }),
    ).resolves.toEqual([]);
    expect(recommendationsFallback.snapshot().fallbacks).toMatchObject({ staleCache: 1, value: 1 });
  });

  it("hedging", async () => {
    const terms = "lamp";
    const lost: unknown[] = [];
    const search = {
      query: (
        _terms: string,
        { signal, replica }: { signal?: AbortSignal | undefined; replica?: number | undefined },
      ) =>
        new Promise<{ total: number; replica: number | undefined }>((resolve, reject) => {
          const timer = clock.setTimeout(() => resolve({ total: 7, replica }), replica === 1 ? 400 : 10);
          signal?.addEventListener("abort", () => {
            clock.clearTimeout(timer);
            lost.push(signal.reason);
            reject(signal.reason);
          });
        }),
    };

    const example = (async () => {
      const hedgedSearch = hedging({ delay: "50ms", maxAttempts: 3 }); // set delay near the p95 latency
      const page = await hedgedSearch.execute(({ signal, attempt }) =>
        search.query(terms, { signal, replica: attempt }),
      );
      console.log(page.total);
      return { hedgedSearch, page };
    })();
    await clock.advance(60);
    const { hedgedSearch, page } = await example;
    expect(logged).toEqual([[7]]);
    expect(page.replica).toBe(2); // the hedge started at 50 ms won at 60 ms
    expect(lost).toEqual([expect.objectContaining({ code: "FLT_HEDGE_LOST" })]); // attempt 1 was aborted
    expect(hedgedSearch.snapshot()).toMatchObject({ hedgedAttempts: 1, hedgeWins: 1 });
    expect(clock.pendingTimers).toBe(0);
  });

  it("pipeline in the recommended order", async () => {
    const sku = "sku-9";
    let catalogUp = true;
    const catalog = {
      product: async (id: string, _options: { signal?: AbortSignal | undefined }) => {
        if (!catalogUp) throw new Error("catalog down");
        return { id, name: "Desk lamp" };
      },
    };

    const run = async () => {
      const catalogPolicy = pipeline(
        fallback({ value: null }), // answers for every failure below, including an open breaker
        timeout({ name: "catalog-total", duration: "5s" }), // one budget for all attempts and waits
        retry({ maxAttempts: 3 }), // each attempt asks the breaker again
        circuitBreaker({ name: "catalog" }), // sees each attempt; a timed-out attempt is a failure
        timeout({ name: "catalog-attempt", duration: "1s" }), // one attempt
        bulkhead({ name: "catalog", maxConcurrent: 20 }), // a slot only while the dependency is called
      );
      const product = await catalogPolicy.execute(({ signal }) => catalog.product(sku, { signal }));
      console.log(product?.name ?? "unavailable");
      return catalogPolicy;
    };

    await run();
    expect(logged).toEqual([["Desk lamp"]]);

    // Three failed attempts, then the fallback's null: the pipeline's type does not say so.
    catalogUp = false;
    const failing = run();
    await clock.advance(300);
    const catalogPolicy = await failing;
    expect(logged).toEqual([["Desk lamp"], ["unavailable"]]);
    expect((catalogPolicy.policies[3] as CircuitBreaker).snapshot()).toMatchObject({ failedCalls: 3 });
    await clock.advance(5_000);
    expect(clock.pendingTimers).toBe(0);
  });

  it("named instances from configuration", async () => {
    const order = { id: "o-1" };
    const payments = {
      charge: async (_order: typeof order, _options: { signal?: AbortSignal | undefined }) => ({ id: "c-1" }),
    };

    const { registry, paymentsPolicy } = await (async () => {
      const registry = resilienceRegistry({
        circuitBreaker: {
          configs: {
            default: { slidingWindowSize: 50, waitDurationInOpenState: "30s" },
            strict: { slidingWindowSize: 20, failureRateThreshold: 25 },
          },
          instances: { payments: { baseConfig: "strict", waitDurationInOpenState: "1m" }, search: {} },
        },
        retry: {
          configs: { default: { maxAttempts: 3, backoff: { type: "exponential", initialDelay: "200ms" } } },
        },
        timeout: { instances: { payments: { duration: "2s" } } },
      });

      const paymentsBreaker = registry.circuitBreaker("payments"); // strict + its own wait; built once, then shared
      const paymentsPolicy = registry.pipeline("payments"); // retry → circuitBreaker → timeout, all named "payments"
      const charged = await paymentsPolicy.execute(({ signal }) => payments.charge(order, { signal }));
      console.log(paymentsBreaker.options.failureRateThreshold, charged.id);
      return { registry, paymentsPolicy };
    })();
    expect(logged).toEqual([[25, "c-1"]]);

    const breaker = registry.circuitBreaker("payments");
    expect(breaker.options).toMatchObject({ slidingWindowSize: 20, waitDurationInOpenState: 60_000 });
    expect(paymentsPolicy.policies[0]).toBe(registry.retry("payments"));
    expect(paymentsPolicy.policies[1]).toBe(breaker);
    expect(paymentsPolicy.policies[2]).toBe(registry.timeout("payments"));
    expect(paymentsPolicy.policies.map((p) => (p as unknown as { name: string }).name)).toEqual([
      "payments",
      "payments",
      "payments",
    ]);
    // An unlisted name gets the default config; a base config does not inherit from default.
    expect(registry.circuitBreaker("search").options.slidingWindowSize).toBe(50);
    expect(registry.circuitBreaker("other").options.waitDurationInOpenState).toBe(30_000);
    expect(breaker.options.failureRateThreshold).toBe(25);
    expect(() => registry.pipeline("nothing-here")).not.toThrow(); // retry has a default config
    expect(() => resilienceRegistry({}).pipeline("x")).toThrow(TypeError);
    await clock.advance(2_000);
  });

  it("a ConfigError lists every bad value with its path, as printed in the README", () => {
    (() => {
      try {
        resilienceRegistry({
          circuitBreaker: {
            configs: { default: { slidingWindowSize: 50 } },
            instances: { payments: { failureRateThreshold: 120, waitDurationInOpenState: "soon" } },
          },
          retry: { instances: { payments: { maxAttempts: 0 } } },
          timeout: { instances: { payments: { duration: "2 seconds" } } },
        });
      } catch (error) {
        if (isConfigError(error)) console.error(error.message); // error.issues: [{ path, message }, …]
      }
    })();

    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const printed = /A real error[\s\S]*?```text\n([\s\S]*?)\n```/.exec(readme)?.[1];
    expect(printed).toBeDefined();
    expect(errored).toEqual([[printed]]);
    expect(() => circuitBreaker({ failureRateThreshold: 120 })).toThrow(
      "invalid configuration:\n  - failureRateThreshold: must be at most 100, got 120",
    );
  });

  it("events and snapshots", async () => {
    const inventory = { ping: async () => "pong" };
    const metricsCalls: unknown[][] = [];
    const metrics = {
      increment: (name: string, labels: Record<string, string>) => void metricsCalls.push([name, labels]),
    };
    const registry = resilienceRegistry({ retry: { instances: { payments: {} } } });
    registry.retry("payments");

    await (async () => {
      const inventoryBreaker = circuitBreaker({ name: "inventory" });
      const unsubscribe = inventoryBreaker.events.subscribe((event) => {
        if (event.type === "stateTransition") console.warn(`${event.name}: ${event.from} → ${event.to}`);
        if (event.type === "notPermitted") metrics.increment("breaker_rejected", { breaker: event.name });
      });

      inventoryBreaker.transitionToOpenState(); // e.g. from an admin endpoint; warns "inventory: CLOSED → OPEN"
      await inventoryBreaker.execute(() => inventory.ping()).catch(() => {}); // refused: one notPermitted event

      const { state, failureRate, bufferedCalls, notPermittedCalls } = inventoryBreaker.snapshot();
      console.log(state, failureRate, bufferedCalls, notPermittedCalls); // OPEN -1 0 1 (no rate below the minimum)
      unsubscribe();

      registry.events.subscribe(({ kind, name }) => console.log(`built ${kind} "${name}"`));
      for (const { kind, name, policy } of registry.instances())
        console.log(kind, name, policy.constructor.name);
    })();

    expect(warned).toEqual([["inventory: CLOSED → OPEN"]]);
    expect(metricsCalls).toEqual([["breaker_rejected", { breaker: "inventory" }]]);
    expect(logged).toEqual([
      ["OPEN", -1, 0, 1],
      ["retry", "payments", "Retry"],
    ]);
    registry.circuitBreaker("search");
    expect(logged.at(-1)).toEqual(['built circuitBreaker "search"']);
  });

  it("probes again after the wait", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({
      clock,
      slidingWindowSize: 2,
      waitDurationInOpenState: "5s",
      permittedNumberOfCallsInHalfOpenState: 1,
    });
    const down = () => Promise.reject(new Error("down"));
    await expect(breaker.execute(down)).rejects.toThrow("down");
    await expect(breaker.execute(down)).rejects.toThrow("down");
    expect(breaker.state).toBe(BreakerState.OPEN);

    await clock.advance(4_999);
    await expect(breaker.execute(() => "ok")).rejects.toMatchObject({ code: "FLT_BREAKER_OPEN" });
    await clock.advance(1);
    await expect(breaker.execute(() => "ok")).resolves.toBe("ok");
    expect(breaker.state).toBe(BreakerState.CLOSED);
    expect(clock.pendingTimers).toBe(0);
  });

  it("every TypeScript example of the README appears in this file", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const self = readFileSync(new URL(import.meta.url), "utf8");
    // Compare without imports, whitespace and trailing commas, which the formatter may change.
    const squash = (code: string) =>
      code
        .replace(/^import [^;]*;$/gm, "")
        .replace(/,(\s*[)\]}])/g, "$1")
        .replace(/\s+/g, "");
    const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
    expect(examples.length).toBeGreaterThanOrEqual(16);
    const missing = examples.filter((example) => !squash(self).includes(squash(example)));
    expect(missing).toEqual([]);
  });
});
