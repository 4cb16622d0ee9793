import type { Logger } from "@flotilla/observability";
import type { Clock, TimerHandle } from "@flotilla/resilience";
import type { SelfPreservation } from "../health/self-preservation.js";
import { aggregateStatus, isLeaseExpired, leaseExpiredOutput, withLeaseExpired } from "./instance-status.js";
import type { InstanceWriter } from "./instance-writer.js";
import type { RegistryView } from "./registry-view.js";
import type { LeaseMarker, ViewInstance } from "./store-layout.js";

/** What {@link LeaseExpiry} needs. */
export interface LeaseExpiryOptions {
  readonly clock: Clock;
  /** Epoch milliseconds, for the TTL check's `since`. */
  readonly wallClock: () => number;
  readonly view: RegistryView;
  readonly writer: InstanceWriter;
  /** Asked before lapsed leases are expired; `undefined` always expires. */
  readonly selfPreservation: SelfPreservation | undefined;
  /** How long a lapsed instance stays (critical) when its ttl check names no `deregisterCriticalAfterMs`. */
  readonly deregisterAfterMs: number;
  readonly logger: Logger;
  /**
   * Called once for each lapsed instance this server marked critical (or removed): only when its
   * own compare-and-set write did it, so servers sharing a store count each lapse once.
   */
  readonly onExpired: () => void;
}

interface Lapse {
  readonly service: string;
  readonly id: string;
  readonly lease: string;
}

/**
 * What happens when an instance's lease lapses. The store deletes the `leases/<id>` marker; a
 * deletion this server sees while the instance record still names that lease (a deregistration
 * deletes the record first, a re-registration replaces it first) means the lease expired. Lapses
 * are gathered per event-loop turn and {@link SelfPreservation} is asked once per batch:
 *
 * - allowed: the record is rewritten with its TTL check `critical` / `lease expired` (compare-and-
 *   set: when another registry server did it first, that is fine), and removed after the TTL
 *   check's `deregisterCriticalAfterMs` (default `deregisterAfterMs`; 0 removes it at once);
 * - refused: the instances are left as they are and remembered, and processed as lapsed when
 *   self-preservation ends (unless they registered again meanwhile).
 *
 * When the store itself consults {@link LeaseExpiry.expiryGuard}, self-preservation has already
 * been asked for those leases and is not asked again. A store whose guard refused keeps the leases
 * and offers them again once they lapse again (a TTL later); each lease counts as a lapse only the
 * first time, so instances that stay away do not keep self-preservation on: it ends once their
 * lapses have left its window and its exit delay has passed, and the next offer expires them.
 */
export class LeaseExpiry {
  readonly #o: LeaseExpiryOptions;
  readonly #batch = new Map<string, Lapse>();
  readonly #held = new Map<string, Lapse>();
  readonly #approved = new Set<string>();
  /** Leases the store's guard counted as lapsed and that it still holds (refused). */
  readonly #counted = new Set<string>();
  readonly #removals = new Map<string, { readonly lease: string; readonly timer: TimerHandle }>();
  #flush: NodeJS.Immediate | undefined;
  #closed = false;

  constructor(options: LeaseExpiryOptions) {
    this.#o = options;
  }

  /** Lapsed instances kept by self-preservation. */
  get held(): number {
    return this.#held.size;
  }

  /**
   * For the store's `expiryGuard`: asks self-preservation about `lapsed` leases before the store
   * drops them, counting only those not counted before (a refused lease comes back when it lapses
   * again), and remembers the approval so their deletion is not counted twice.
   */
  readonly expiryGuard = (lapsed: readonly string[], liveLeases: number): boolean => {
    const sp = this.#o.selfPreservation;
    let fresh = 0;
    for (const lease of lapsed) if (!this.#counted.has(lease)) fresh++;
    const allowed = sp === undefined || sp.allowExpiry(fresh, liveLeases);
    for (const lease of lapsed) {
      if (allowed) {
        this.#counted.delete(lease);
        this.#approved.add(lease);
      } else {
        this.#counted.add(lease);
      }
    }
    return allowed;
  };

  /** A `leases/<lease>` marker was deleted (by the store's expiry, or a revocation). */
  leaseDeleted(lease: string, marker: LeaseMarker | undefined): void {
    this.#counted.delete(lease);
    const instance =
      marker === undefined ? this.#findByLease(lease) : this.#o.view.instance(marker.service, marker.id);
    if (instance === undefined || instance.record.lease !== lease) {
      this.#approved.delete(lease);
      return;
    }
    this.#add(instance, lease);
  }

  /**
   * After the view was (re)built from a list: instances whose lease marker is gone lapsed while
   * nobody watched; those already marked expired get their removal timer again.
   */
  sweep(): void {
    const view = this.#o.view;
    for (const instance of view.instances()) {
      const { record } = instance;
      if (view.lease(record.lease) !== undefined) continue;
      if (isLeaseExpired(record.checks)) this.#scheduleRemoval(instance);
      else this.#add(instance, record.lease);
    }
  }

  /** Self-preservation ended: the lapses it held are processed now. */
  selfPreservationEnded(): void {
    if (this.#held.size === 0) return;
    const held = [...this.#held.values()];
    this.#held.clear();
    const due = held.filter((l) => this.#stillLapsed(l));
    this.#o.logger.warn(
      { lapsed: due.length },
      `self-preservation ended: expiring ${due.length} held lapsed instances`,
    );
    for (const lapse of due) void this.#expire(lapse);
  }

  /** An instance record was removed or replaced: its pending removal no longer applies. */
  instanceGone(id: string, lease: string): void {
    const removal = this.#removals.get(id);
    if (removal !== undefined && removal.lease === lease) {
      this.#o.clock.clearTimeout(removal.timer);
      this.#removals.delete(id);
    }
  }

  /** Cancels every timer. */
  close(): void {
    this.#closed = true;
    if (this.#flush !== undefined) clearImmediate(this.#flush);
    this.#flush = undefined;
    for (const { timer } of this.#removals.values()) this.#o.clock.clearTimeout(timer);
    this.#removals.clear();
    this.#batch.clear();
    this.#held.clear();
    this.#counted.clear();
  }

  #add(instance: ViewInstance, lease: string): void {
    if (this.#closed) return;
    this.#batch.set(lease, { service: instance.record.service, id: instance.record.id, lease });
    this.#flush ??= setImmediate(() => this.#process());
  }

  #process(): void {
    this.#flush = undefined;
    if (this.#closed) return;
    const approved: Lapse[] = [];
    const asking: Lapse[] = [];
    for (const lapse of this.#batch.values()) {
      const wasApproved = this.#approved.delete(lapse.lease);
      if (!this.#stillLapsed(lapse)) continue;
      if (wasApproved) approved.push(lapse);
      else asking.push(lapse);
    }
    this.#batch.clear();
    const sp = this.#o.selfPreservation;
    const due =
      asking.length === 0 || sp === undefined || sp.allowExpiry(asking.length, this.#o.view.leaseCount)
        ? [...approved, ...asking]
        : approved;
    if (due.length > 0) {
      this.#o.logger.info({ lapsed: due.length }, `expiring ${due.length} instances whose lease lapsed`);
      for (const lapse of due) void this.#expire(lapse);
    }
    if (due.length === approved.length + asking.length) return;
    for (const lapse of asking) this.#held.set(lapse.lease, lapse);
    this.#o.logger.warn(
      { lapsed: asking.length, held: this.#held.size, liveLeases: this.#o.view.leaseCount },
      `self-preservation: keeping ${asking.length} instances whose lease lapsed (${this.#held.size} held)`,
    );
  }

  async #expire(lapse: Lapse): Promise<void> {
    const { view, writer, logger } = this.#o;
    const instance = view.instance(lapse.service, lapse.id);
    if (instance === undefined) return;
    const afterMs = deregisterAfter(instance, this.#o.deregisterAfterMs);
    try {
      if (afterMs === 0) {
        if (await writer.remove(lapse.service, lapse.id, lapse.lease)) this.#o.onExpired();
        return;
      }
      const now = this.#o.wallClock();
      const wrote = await writer.update(lapse.service, lapse.id, (current) => {
        const { record } = current;
        if (record.lease !== lapse.lease || isLeaseExpired(record.checks)) return undefined;
        const checks = withLeaseExpired(record.checks, now);
        const { modifyIndex: _, ...rest } = record;
        return { ...rest, checks, status: aggregateStatus(checks) };
      });
      if (wrote) this.#o.onExpired();
      const expired = view.instance(lapse.service, lapse.id);
      if (expired !== undefined && expired.record.lease === lapse.lease) this.#scheduleRemoval(expired);
    } catch (error) {
      logger.warn({ err: error, service: lapse.service, id: lapse.id }, "could not expire a lapsed instance");
    }
  }

  #scheduleRemoval(instance: ViewInstance): void {
    if (this.#closed) return;
    const { service, id, lease, checks } = instance.record;
    const since =
      checks.find((c) => c.type === "ttl" && c.output === leaseExpiredOutput)?.since ?? this.#o.wallClock();
    const delay = Math.max(
      0,
      since + deregisterAfter(instance, this.#o.deregisterAfterMs) - this.#o.wallClock(),
    );
    const previous = this.#removals.get(id);
    if (previous !== undefined) this.#o.clock.clearTimeout(previous.timer);
    const timer = this.#o.clock.setTimeout(() => {
      this.#removals.delete(id);
      this.#o.writer.remove(service, id, lease).catch((error: unknown) => {
        this.#o.logger.warn({ err: error, service, id }, "could not remove a lapsed instance");
      });
    }, delay);
    this.#removals.set(id, { lease, timer });
  }

  #stillLapsed(lapse: Lapse): boolean {
    const instance = this.#o.view.instance(lapse.service, lapse.id);
    return (
      instance !== undefined &&
      instance.record.lease === lapse.lease &&
      this.#o.view.lease(lapse.lease) === undefined &&
      !isLeaseExpired(instance.record.checks)
    );
  }

  #findByLease(lease: string): ViewInstance | undefined {
    for (const instance of this.#o.view.instances()) if (instance.record.lease === lease) return instance;
    return undefined;
  }
}

function deregisterAfter(instance: ViewInstance, fallback: number): number {
  const ttl = instance.definitions.find((d) => d.type === "ttl");
  return ttl?.deregisterCriticalAfterMs ?? fallback;
}
