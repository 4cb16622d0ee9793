import { type Clock, ConfigReader, EventStream, type TimerHandle } from "@flotilla/resilience";
import {
  type OutlierDetectorOptions,
  parseOutlierDetectorOptions,
  type ResolvedOutlierDetectorOptions,
} from "./outlier-detector-options.js";
import type { OutlierEjectionReason, OutlierEvent } from "./outlier-event.js";
import type { OutlierOutcome } from "./outlier-outcome.js";

/** Plain numbers describing an {@link OutlierDetector} now, for metrics. */
export interface OutlierDetectorSnapshot {
  /** Instances in the current membership. */
  readonly members: number;
  /** Ids of the instances ejected now, in the order they were ejected. */
  readonly ejected: readonly string[];
  /** Ejections since the detector was created (Envoy's `ejections_enforced_total`). */
  readonly ejectionsTotal: number;
  /** Of those, ejections for consecutive 5xx. */
  readonly ejectionsConsecutive5xx: number;
  /** Of those, ejections for consecutive gateway errors. */
  readonly ejectionsConsecutiveGatewayErrors: number;
  /** Thresholds reached without an ejection because of `maxEjectionPercent` (Envoy's `ejections_overflow`). */
  readonly ejectionsOverflow: number;
  /** Outcomes recorded for ids that are not in the membership, and so ignored. */
  readonly unknownRecords: number;
}

/** One member's counters; allocated when it joins, mutated in place afterwards. */
interface MemberState {
  readonly id: string;
  consecutive5xx: number;
  consecutiveGatewayErrors: number;
  ejected: boolean;
  /** Clock reading at which the current ejection ends. */
  untilMs: number;
  /** The multiplier of the last ejection, before decay. */
  multiplier: number;
  /** Clock reading from which the multiplier decays: when the instance last returned. */
  decayFromMs: number;
  times: number;
}

/**
 * Passive health checking by consecutive errors, after Envoy's outlier detection
 * (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/outlier). The caller
 * reports the outcome of every call with {@link OutlierDetector.record}; an instance that returns
 * `consecutive5xx` server or connection errors in a row (or `consecutiveGatewayErrors` gateway or
 * connection errors, when on) is ejected for `baseEjectionTime × multiplier`, at most
 * `maxEjectionTime`. The multiplier grows by one with each ejection and drops by one for every
 * `interval` the instance then stays in service.
 *
 * The detector knows instances only by id, so it composes with any balancer: keep its membership
 * current with {@link OutlierDetector.update} and pick among {@link OutlierDetector.filter}'s result
 * (or skip ids for which {@link OutlierDetector.isEjected} is true).
 *
 * Ejection affects only picks made after it: nothing is cancelled, and calls already in flight to
 * the instance run to completion. Their outcomes, recorded while the instance is ejected, are
 * ignored, which has Envoy's effect: Envoy counts them but resets every counter on return.
 *
 * {@link OutlierDetector.record} is O(1) and allocates nothing for a success; the clock is read
 * only for an ejected instance or an ejection.
 */
export class OutlierDetector {
  /** Ejections, returns and skipped ejections. */
  readonly events: EventStream<OutlierEvent> = new EventStream<OutlierEvent>();
  /** The validated options, durations in milliseconds. */
  readonly options: ResolvedOutlierDetectorOptions;
  readonly #clock: Clock;
  readonly #members = new Map<string, MemberState>();
  readonly #ejected = new Set<MemberState>();
  /** No ejection ends before this reading; a lower bound, made exact by each sweep. */
  #nextReturnMs = Number.POSITIVE_INFINITY;
  /** Bumped whenever the set of ejected members changes, to invalidate the filter cache. */
  #version = 0;
  #cachedInput: readonly { readonly id: string }[] | undefined;
  #cachedOutput: readonly { readonly id: string }[] = [];
  #cachedVersion = -1;
  #timer: TimerHandle | undefined;
  #timerAtMs = Number.POSITIVE_INFINITY;
  #closed = false;
  #ejectionsConsecutive5xx = 0;
  #ejectionsConsecutiveGatewayErrors = 0;
  #ejectionsOverflow = 0;
  #unknownRecords = 0;

  constructor(options: OutlierDetectorOptions = {}) {
    const reader = new ConfigReader();
    const resolved = parseOutlierDetectorOptions(options, reader, "");
    reader.throwIfInvalid();
    this.options = resolved;
    this.#clock = resolved.clock;
  }

  /**
   * Replaces the membership with `instanceIds`. Instances that left are forgotten with their
   * counters, multiplier and ejection (no `returned` event: they did not return to service); an
   * instance that comes back later starts afresh. Instances that stay keep their state.
   */
  update(instanceIds: Iterable<string>): void {
    const next = new Set(instanceIds);
    for (const [id, member] of this.#members) {
      if (next.has(id)) continue;
      this.#members.delete(id);
      if (member.ejected) {
        this.#ejected.delete(member);
        this.#version++;
      }
    }
    for (const id of next) {
      if (this.#members.has(id)) continue;
      this.#members.set(id, {
        id,
        consecutive5xx: 0,
        consecutiveGatewayErrors: 0,
        ejected: false,
        untilMs: 0,
        multiplier: 0,
        decayFromMs: 0,
        times: 0,
      });
    }
    this.#schedule();
  }

  /**
   * Records the outcome of one call to `instanceId`: an {@link OutlierOutcome} name or an HTTP
   * status. An id outside the membership is ignored (a late answer from an instance that left) and
   * counted in the snapshot's `unknownRecords`. Throws a `TypeError` for an unknown outcome name.
   */
  record(instanceId: string, outcome: OutlierOutcome): void {
    const member = this.#members.get(instanceId);
    if (member === undefined) {
      this.#unknownRecords++;
      return;
    }
    if (member.ejected) {
      if (this.#clock.now() < member.untilMs) return;
      this.#return(member, member.untilMs);
    }
    let gateway: boolean;
    if (typeof outcome === "number") {
      if (!(outcome >= 500 && outcome <= 599)) {
        member.consecutive5xx = 0;
        member.consecutiveGatewayErrors = 0;
        return;
      }
      gateway = outcome === 502 || outcome === 503 || outcome === 504;
    } else {
      switch (outcome) {
        case "success":
          member.consecutive5xx = 0;
          member.consecutiveGatewayErrors = 0;
          return;
        case "serverError":
          gateway = false;
          break;
        case "gatewayError":
        case "connectionError":
          gateway = true;
          break;
        default:
          throw new TypeError(
            `outlier detector "${this.options.name}": unknown outcome ${JSON.stringify(outcome)}; expected an HTTP status or one of "success", "serverError", "gatewayError", "connectionError"`,
          );
      }
    }
    const { consecutive5xx, consecutiveGatewayErrors } = this.options;
    // Envoy checks the gateway run first, and resets a run's counter when it triggers, ejected or not.
    if (gateway) {
      if (++member.consecutiveGatewayErrors === consecutiveGatewayErrors) {
        member.consecutiveGatewayErrors = 0;
        this.#tryEject(member, "consecutiveGatewayErrors");
        if (member.ejected) return;
      }
    } else {
      member.consecutiveGatewayErrors = 0;
    }
    if (++member.consecutive5xx === consecutive5xx) {
      member.consecutive5xx = 0;
      this.#tryEject(member, "consecutive5xx");
    }
  }

  /**
   * True while `instanceId` is ejected. An instance whose time is up returns here (and its
   * `returned` event is emitted). Ids outside the membership are never ejected.
   */
  isEjected(instanceId: string): boolean {
    const member = this.#members.get(instanceId);
    if (member === undefined || !member.ejected) return false;
    if (this.#clock.now() < member.untilMs) return true;
    this.#return(member, member.untilMs);
    return false;
  }

  /**
   * The instances of `instances` that are not ejected, in their order. Returns `instances` itself
   * when none of the membership is ejected, and the same result array for the same input array as
   * long as no instance is ejected or returns, so steady-state picks allocate nothing; do not
   * modify an array in place after passing it. The result may be empty (when `maxEjectionPercent`
   * is 100); falling back to all instances then (Envoy's panic mode) is the caller's choice.
   */
  filter<T extends { readonly id: string }>(instances: readonly T[]): readonly T[] {
    if (this.#ejected.size === 0) return instances;
    this.#sweep(this.#clock.now());
    if (this.#ejected.size === 0) return instances;
    if (this.#cachedInput === instances && this.#cachedVersion === this.#version) {
      return this.#cachedOutput as readonly T[];
    }
    const allowed: T[] = [];
    for (const instance of instances) {
      const member = this.#members.get(instance.id);
      if (member === undefined || !member.ejected) allowed.push(instance);
    }
    const output = allowed.length === instances.length ? instances : allowed;
    this.#cachedInput = instances;
    this.#cachedOutput = output;
    this.#cachedVersion = this.#version;
    return output;
  }

  /**
   * Returns an ejected instance to service now, as Envoy does when an active health check passes.
   * Its multiplier starts decaying from now. Returns false when it was not ejected.
   */
  uneject(instanceId: string): boolean {
    const member = this.#members.get(instanceId);
    if (member === undefined || !member.ejected) return false;
    this.#return(member, this.#clock.now());
    this.#schedule();
    return true;
  }

  /** The membership, ejections and counters now; instances whose time is up return first. */
  snapshot(): OutlierDetectorSnapshot {
    this.#sweep(this.#clock.now());
    return {
      members: this.#members.size,
      ejected: Array.from(this.#ejected, (member) => member.id),
      ejectionsTotal: this.#ejectionsConsecutive5xx + this.#ejectionsConsecutiveGatewayErrors,
      ejectionsConsecutive5xx: this.#ejectionsConsecutive5xx,
      ejectionsConsecutiveGatewayErrors: this.#ejectionsConsecutiveGatewayErrors,
      ejectionsOverflow: this.#ejectionsOverflow,
      unknownRecords: this.#unknownRecords,
    };
  }

  /**
   * Clears the return timer and schedules no other. The detector keeps working: instances still
   * return when it next looks at them.
   */
  close(): void {
    this.#closed = true;
    this.#clearTimer();
  }

  #tryEject(member: MemberState, reason: OutlierEjectionReason): void {
    const now = this.#clock.now();
    // Instances whose time is up must not count against the limit.
    this.#sweep(now);
    const { maxEjectionPercent, alwaysEjectOneInstance, baseEjectionTime, maxEjectionTime, interval } =
      this.options;
    const ejectedAfter = this.#ejected.size + 1;
    // Envoy's rule: the share ejected after this ejection must not exceed the limit (integers, to
    // stay exact), unless always-eject-one lets the first one through — never the only member,
    // since ejecting it would leave nothing to send to.
    const allowed =
      ejectedAfter * 100 <= maxEjectionPercent * this.#members.size ||
      (alwaysEjectOneInstance && ejectedAfter === 1 && this.#members.size > 1);
    if (!allowed) {
      this.#ejectionsOverflow++;
      if (this.events.active) {
        this.events.emit({ type: "ejectionSkipped", name: this.options.name, instanceId: member.id, reason });
      }
      return;
    }
    let multiplier = member.multiplier;
    if (multiplier > 0) {
      multiplier = Math.max(0, multiplier - Math.floor((now - member.decayFromMs) / interval));
    }
    // Grow only while the product is below the cap, so that a long run of ejections cannot build up
    // a multiplier that takes many intervals to decay (Envoy stops one step later).
    if (multiplier * baseEjectionTime < maxEjectionTime) multiplier++;
    const durationMs = Math.min(multiplier * baseEjectionTime, maxEjectionTime);
    member.multiplier = multiplier;
    member.ejected = true;
    member.untilMs = now + durationMs;
    member.times++;
    member.consecutive5xx = 0;
    member.consecutiveGatewayErrors = 0;
    this.#ejected.add(member);
    this.#version++;
    if (member.untilMs < this.#nextReturnMs) this.#nextReturnMs = member.untilMs;
    if (reason === "consecutive5xx") this.#ejectionsConsecutive5xx++;
    else this.#ejectionsConsecutiveGatewayErrors++;
    if (this.events.active) {
      this.events.emit({
        type: "ejected",
        name: this.options.name,
        instanceId: member.id,
        reason,
        times: member.times,
        multiplier,
        durationMs,
        untilMs: member.untilMs,
      });
    }
    this.#schedule();
  }

  /** Returns every member whose time is up and makes `#nextReturnMs` exact. */
  #sweep(now: number): void {
    if (now < this.#nextReturnMs) return;
    let next = Number.POSITIVE_INFINITY;
    for (const member of this.#ejected) {
      if (member.untilMs <= now) this.#return(member, member.untilMs);
      else if (member.untilMs < next) next = member.untilMs;
    }
    this.#nextReturnMs = next;
  }

  /** `at` is when the instance went back into service, from which its multiplier decays. */
  #return(member: MemberState, at: number): void {
    member.ejected = false;
    member.decayFromMs = at;
    // As Envoy does, so that a run that was close to its threshold does not eject again at once.
    member.consecutive5xx = 0;
    member.consecutiveGatewayErrors = 0;
    this.#ejected.delete(member);
    this.#version++;
    if (this.events.active) {
      this.events.emit({ type: "returned", name: this.options.name, instanceId: member.id });
    }
  }

  /** Keeps the one return timer, when enabled, set for the earliest return. */
  #schedule(): void {
    if (!this.options.returnTimer || this.#closed) return;
    if (this.#ejected.size === 0) {
      this.#clearTimer();
      return;
    }
    const at = this.#nextReturnMs;
    if (this.#timer !== undefined && this.#timerAtMs <= at) return;
    this.#clearTimer();
    this.#timerAtMs = at;
    this.#timer = this.#clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAtMs = Number.POSITIVE_INFINITY;
        this.#sweep(this.#clock.now());
        this.#schedule();
      },
      Math.max(0, at - this.#clock.now()),
      true,
    );
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAtMs = Number.POSITIVE_INFINITY;
  }
}

/**
 * Creates an {@link OutlierDetector}:
 *
 * ```ts
 * const detector = outlierDetector({ consecutive5xx: 5, baseEjectionTime: "30s" });
 * detector.update(instances.map((i) => i.id));
 * const instance = balancer.pick(detector.filter(instances));
 * detector.record(instance.id, response.status);
 * ```
 */
export function outlierDetector(options: OutlierDetectorOptions = {}): OutlierDetector {
  return new OutlierDetector(options);
}
