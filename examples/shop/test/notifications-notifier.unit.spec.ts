import { describe, expect, test } from "vitest";
import { type Notification, Notifier, SimulatedChannel } from "../services/notifications/notifier.ts";

const notification: Notification = { orderId: "o-1", userId: "u-alice", body: "confirmed" };

function queue() {
  const jobs: unknown[] = [];
  return { jobs, enqueue: (job: unknown) => String(jobs.push(job)) };
}

const up = (name: "push" | "email") => new SimulatedChannel(name, { failureRate: 0 });
const down = (name: "push" | "email") => new SimulatedChannel(name, { failureRate: 1 });

describe("Notifier", () => {
  test("sends by push while push works", async () => {
    const later = queue();
    const delivery = await new Notifier({ push: up("push"), email: up("email") }).deliver(
      notification,
      later,
    );
    expect(delivery).toEqual({ channel: "push" });
    expect(later.jobs).toEqual([]);
  });

  test("falls back to e-mail when push fails", async () => {
    const later = queue();
    const delivery = await new Notifier({ push: down("push"), email: up("email") }).deliver(
      notification,
      later,
    );
    expect(delivery).toEqual({ channel: "email" });
    expect(later.jobs).toEqual([]);
  });

  test("queues the notification for later when both channels fail", async () => {
    const later = queue();
    const delivery = await new Notifier({ push: down("push"), email: down("email") }).deliver(
      notification,
      later,
    );
    expect(delivery).toEqual({ channel: "queued", queueId: "1" });
    expect(later.jobs).toEqual([notification]);
  });
});
