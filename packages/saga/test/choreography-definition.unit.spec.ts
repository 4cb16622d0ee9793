// defineChoreography validation, the order-independent state derivation and react's publishing
// (correlation and causation ids, refused data), without servers.
import {
  createEnvelope,
  defineEvent,
  encodeEnvelope,
  type MessageContext,
  MessagingError,
  MessagingErrorCode,
  PermanentError,
} from "@flotilla/messaging";
import type { PoolClient } from "pg";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { choreographyState } from "../src/choreography/choreography-state.js";
import { defineChoreography } from "../src/choreography/define-choreography.js";
import { emit, type ReactionOutbox, react } from "../src/choreography/react.js";
import { SagaState } from "../src/saga-state.js";

const placed = defineEvent({ type: "orders.placed", schema: z.object({ orderId: z.string() }) });
const charged = defineEvent({
  type: "payments.charged",
  schema: z.object({ orderId: z.string(), amount: z.number() }),
});
const confirmed = defineEvent({ type: "orders.confirmed", schema: z.object({ orderId: z.string() }) });

describe("defineChoreography", () => {
  it("gives each event its role", () => {
    const flow = defineChoreography({ type: "f", start: placed, steps: [charged], completed: [confirmed] });
    expect([...flow.roles]).toEqual([
      ["orders.placed", "start"],
      ["payments.charged", "step"],
      ["orders.confirmed", "completed"],
    ]);
  });

  it("lists every problem with its path", () => {
    let error: unknown;
    try {
      defineChoreography({ type: "", start: {} as never, steps: [placed], completed: [] });
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({
      code: "FLT_SAGA_DEFINITION_INVALID",
      issues: [
        { path: "type", message: "expected a non-empty string" },
        { path: "start", message: "expected a defineEvent() definition" },
        { path: "completed", message: "expected at least one event that completes the flow" },
      ],
    });
    expect(() =>
      defineChoreography({ type: "f", start: placed, steps: [charged], completed: [charged] }),
    ).toThrow(/completed\[0\]: "payments.charged" already has the role "step"/);
  });
});

describe("choreographyState", () => {
  it("derives the state from the roles seen, whatever their order", () => {
    expect(choreographyState(["start", "step"])).toBe(SagaState.Running);
    expect(choreographyState(["step"])).toBe(SagaState.Running);
    expect(choreographyState(["start", "compensating"])).toBe(SagaState.Compensating);
    expect(choreographyState(["completed", "start"])).toBe(SagaState.Completed);
    expect(choreographyState(["compensated", "compensating", "start"])).toBe(SagaState.Compensated);
    expect(choreographyState(["compensated", "failed"])).toBe(SagaState.FailedCompensation);
  });
});

describe("react", () => {
  const published: { type: string; data: unknown; options: unknown }[] = [];
  const outbox: ReactionOutbox = {
    async publish(_tx, event, data, options) {
      if (!event.schema.safeParse(data).success) {
        throw new MessagingError(MessagingErrorCode.PayloadInvalid, "data fails the schema");
      }
      published.push({ type: event.type, data, options });
    },
  };
  const context = (tx: PoolClient | undefined): MessageContext => ({
    tx,
    attempt: 1,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    signal: new AbortController().signal,
    message: {
      id: "m",
      topic: "orders.placed",
      body: encodeEnvelope(createEnvelope({ type: "t", source: "/s", data: {} })),
    },
  });
  const sink = { source: "/s", publish: async () => undefined };
  const tx = {} as PoolClient;

  it("publishes the next events with the flow's correlation id and the trigger as causation", async () => {
    published.length = 0;
    const handler = react(
      placed,
      async (event, ctx) => ({
        publish: [emit(charged, { orderId: event.data.orderId, amount: 5 }, { key: ctx.correlationId })],
      }),
      { outbox },
    );
    const first = createEnvelope({ type: placed.type, source: "/orders", data: { orderId: "o-1" } });
    await handler.run(first, context(tx), sink);
    const later = createEnvelope({
      type: placed.type,
      source: "/orders",
      data: { orderId: "o-2" },
      correlationid: "flow-2",
    });
    await handler.run(later, context(tx), sink);
    expect(published).toEqual([
      {
        type: charged.type,
        data: { orderId: "o-1", amount: 5 },
        options: { correlationId: first.id, causationId: first.id, key: first.id },
      },
      {
        type: charged.type,
        data: { orderId: "o-2", amount: 5 },
        options: { correlationId: "flow-2", causationId: later.id, key: "flow-2" },
      },
    ]);
  });

  it("dead-letters (PermanentError) what can never succeed: no transaction, data the outbox refuses", async () => {
    const handler = react(
      placed,
      async () => ({ publish: [{ event: charged, data: { orderId: 1 } as never }] }),
      { outbox },
    );
    const envelope = createEnvelope({ type: placed.type, source: "/orders", data: { orderId: "o-3" } });
    await expect(handler.run(envelope, context(undefined), sink)).rejects.toThrow(
      /needs a consumer with a db/,
    );
    const refused = handler.run(envelope, context(tx), sink);
    await expect(refused).rejects.toBeInstanceOf(PermanentError);
    await expect(refused).rejects.toThrow(/could not publish publish\[0\] \("payments.charged"\)/);
  });

  it("refuses a missing outbox at declaration", () => {
    expect(() => react(placed, async () => undefined, {} as never)).toThrow(
      /options.outbox of "orders.placed"/,
    );
  });
});
