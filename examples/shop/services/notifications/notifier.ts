import { fallback, isPending, type LaterQueue } from "@flotilla/resilience";
import { type SimulatedFaults, simulateCall } from "../../lib/simulated-latency.ts";

/** One notification to a user. */
export interface Notification {
  readonly orderId: string;
  readonly userId: string;
  readonly body: string;
}

/** How a notification was delivered: by a channel, or queued for later when both were down. */
export type Delivery =
  | { readonly channel: "push" | "email" }
  | { readonly channel: "queued"; readonly queueId: string };

/** A channel that can fail, simulated with latency and a failure rate. */
export class SimulatedChannel {
  readonly name: "push" | "email";
  readonly #faults: SimulatedFaults;

  constructor(name: "push" | "email", faults: SimulatedFaults = {}) {
    this.name = name;
    this.#faults = faults;
  }

  /** "Sends" the notification; rejects when the simulated provider fails. */
  async send(_notification: Notification): Promise<{ readonly channel: "push" | "email" }> {
    if (await simulateCall(this.#faults)) throw new Error(`${this.name} provider unavailable`);
    return { channel: this.name };
  }
}

/**
 * Delivers a notification by push, falling back to e-mail, and queueing it for later when both
 * fail: one `fallback` policy of `@flotilla/resilience` whose `alternative` (e-mail) is tried
 * before `later` (the queue).
 */
export class Notifier {
  readonly #push: SimulatedChannel;
  readonly #email: SimulatedChannel;

  constructor(channels: { readonly push: SimulatedChannel; readonly email: SimulatedChannel }) {
    this.#push = channels.push;
    this.#email = channels.email;
  }

  /** Delivers `notification`; `queue` takes it when no channel does (in the caller's transaction). */
  async deliver(notification: Notification, queue: LaterQueue): Promise<Delivery> {
    const policy = fallback({
      name: "notification-channels",
      alternative: () => this.#email.send(notification),
      later: { queue, job: () => notification },
    });
    const result = await policy.execute(() => this.#push.send(notification));
    return isPending(result) ? { channel: "queued", queueId: result.id } : result;
  }
}
