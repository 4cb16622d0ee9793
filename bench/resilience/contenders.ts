// The contenders of the resilience benchmark, each configured as close to the others as its API allows.
import {
  circuitBreaker as flotillaBreaker,
  bulkhead as flotillaBulkhead,
  pipeline as flotillaPipeline,
  retry as flotillaRetry,
  timeout as flotillaTimeout,
} from "@flotilla/resilience";
import {
  ConsecutiveBreaker,
  circuitBreaker as cockatielBreaker,
  bulkhead as cockatielBulkhead,
  retry as cockatielRetry,
  timeout as cockatielTimeout,
  handleAll,
  SamplingBreaker,
  TimeoutStrategy,
  wrap,
} from "cockatiel";
import Opossum from "opossum";

/** Something that runs `fn` under a policy. */
export type Runner = (fn: () => Promise<number>) => Promise<number>;

export type Scenario = "breaker" | "breaker_timed" | "pipeline" | "bulkhead" | "bulkhead_queue";
export type Contender = "bare" | "flotilla" | "cockatiel" | "opossum";

/** Which contenders take part in which scenario (opossum has no retry pipeline). */
export const lineup: Record<Scenario, readonly Contender[]> = {
  breaker: ["bare", "flotilla", "cockatiel", "opossum"],
  breaker_timed: ["bare", "flotilla", "cockatiel", "opossum"],
  pipeline: ["bare", "flotilla", "cockatiel"],
  bulkhead: ["bare", "flotilla", "cockatiel", "opossum"],
  bulkhead_queue: ["bare", "flotilla", "cockatiel"],
};

/** Calls started at once per wave: within the 10 slots for `bulkhead`, past them (queueing) for `bulkhead_queue`. */
export const waveSize: Partial<Record<Scenario, number>> = { bulkhead: 10, bulkhead_queue: 32 };

const bare: Runner = (fn) => fn();

/** Builds the runner of `contender` for `scenario`; `op` is the protected operation. */
export function makeRunner(scenario: Scenario, contender: Contender, op: () => Promise<number>): Runner {
  if (contender === "bare") return bare;
  switch (scenario) {
    case "breaker":
      return breakerRunner(contender, op);
    case "breaker_timed":
      return timedBreakerRunner(contender, op);
    case "pipeline":
      return pipelineRunner(contender);
    case "bulkhead":
    case "bulkhead_queue":
      return bulkheadRunner(contender, op);
  }
}

function breakerRunner(contender: Exclude<Contender, "bare">, op: () => Promise<number>): Runner {
  switch (contender) {
    case "flotilla": {
      // COUNT_BASED window of 100 at 50 % failures, without slow-call timing: like cockatiel's
      // ConsecutiveBreaker, it measures no durations.
      const breaker = flotillaBreaker({ name: "bench", slowCallDurationThreshold: Number.POSITIVE_INFINITY });
      return (fn) => breaker.execute(fn);
    }
    case "cockatiel": {
      const breaker = cockatielBreaker(handleAll, {
        halfOpenAfter: 10_000,
        breaker: new ConsecutiveBreaker(5),
      });
      return (fn) => breaker.execute(fn);
    }
    case "opossum": {
      // opossum's defaults (10 s timeout, rolling stats with percentiles), as a user gets them.
      const breaker = new Opossum(op);
      return () => breaker.fire() as Promise<number>;
    }
  }
}

/** Breakers that time every call: Resilience4j's defaults (slow calls over 60 s) against cockatiel's SamplingBreaker. */
function timedBreakerRunner(contender: Exclude<Contender, "bare">, op: () => Promise<number>): Runner {
  switch (contender) {
    case "flotilla": {
      const breaker = flotillaBreaker({ name: "bench" });
      return (fn) => breaker.execute(fn);
    }
    case "cockatiel": {
      const breaker = cockatielBreaker(handleAll, {
        halfOpenAfter: 10_000,
        breaker: new SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 5 }),
      });
      return (fn) => breaker.execute(fn);
    }
    case "opossum":
      return breakerRunner("opossum", op);
  }
}

function pipelineRunner(contender: "flotilla" | "cockatiel" | "opossum"): Runner {
  switch (contender) {
    case "flotilla": {
      const policy = flotillaPipeline(
        flotillaRetry({ maxAttempts: 3 }),
        flotillaBreaker({ name: "bench", slowCallDurationThreshold: Number.POSITIVE_INFINITY }),
        flotillaTimeout({ duration: 1000 }),
      );
      return (fn) => policy.execute(fn);
    }
    case "cockatiel": {
      const policy = wrap(
        cockatielRetry(handleAll, { maxAttempts: 2 }),
        cockatielBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
        cockatielTimeout(1000, TimeoutStrategy.Cooperative),
      );
      return (fn) => policy.execute(fn);
    }
    case "opossum":
      throw new Error("opossum has no retry pipeline");
  }
}

function bulkheadRunner(contender: Exclude<Contender, "bare">, op: () => Promise<number>): Runner {
  switch (contender) {
    case "flotilla": {
      const policy = flotillaBulkhead({ maxConcurrent: 10, maxQueue: 100 });
      return (fn) => policy.execute(fn);
    }
    case "cockatiel": {
      const policy = cockatielBulkhead(10, 100);
      return (fn) => policy.execute(fn);
    }
    case "opossum": {
      // opossum's bulkhead is its `capacity` semaphore; it rejects instead of queueing.
      const breaker = new Opossum(op, { capacity: 10, timeout: false, rollingPercentilesEnabled: false });
      return () => breaker.fire() as Promise<number>;
    }
  }
}
