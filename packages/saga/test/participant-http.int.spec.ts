// A saga step calling a participant over HTTP with a typed @flotilla/service client and
// participantCallOptions(ctx): the callee's idempotency store applies a repeated key once and
// replays the first response.
import { defineContract, defineService, route } from "@flotilla/service";
import { startTestBed, type TestBed } from "@flotilla/service/testing";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { participantCallOptions } from "../src/participant/participant-call-options.js";
import { sagaStepKey } from "../src/saga-step-key.js";

const paymentsContract = defineContract({
  name: "payments",
  version: "1.0.0",
  routes: {
    charge: route({
      method: "POST",
      path: "/charges",
      body: z.object({ orderId: z.string(), amount: z.number().int().positive() }),
      response: z.object({ chargeId: z.string(), amount: z.number() }),
      status: 201,
    }),
  },
});

describe("participant over HTTP", () => {
  let bed: TestBed | undefined;
  afterEach(async () => {
    await bed?.close();
    bed = undefined;
  });

  it("charges once for a step invoked twice with the same saga key, and returns the first response", async () => {
    const charges: { orderId: string; amount: number }[] = [];
    const payments = defineService({
      contract: paymentsContract,
      handlers: {
        async charge({ body }) {
          charges.push(body);
          return { chargeId: `ch-${charges.length}`, amount: body.amount };
        },
      },
    });
    bed = await startTestBed({ services: [{ service: payments }] });
    const client = bed.client(paymentsContract);
    const ctx = {
      idempotencyKey: sagaStepKey("saga-1", "payment", "invoke"),
      signal: new AbortController().signal,
    };

    const first = await client.charge({ body: { orderId: "o-1", amount: 30 } }, participantCallOptions(ctx));
    const retried = await client.charge(
      { body: { orderId: "o-1", amount: 30 } },
      participantCallOptions(ctx),
    );
    expect(first).toEqual({ chargeId: "ch-1", amount: 30 });
    expect(retried).toEqual(first);
    expect(charges).toHaveLength(1);

    const compensation = { idempotencyKey: sagaStepKey("saga-1", "payment", "compensate") };
    await client.charge({ body: { orderId: "o-1", amount: 30 } }, participantCallOptions(compensation));
    expect(charges).toHaveLength(2);
  });

  it("passes the key, the signal and the deadline, and nothing else", () => {
    const signal = new AbortController().signal;
    expect(participantCallOptions({ idempotencyKey: "k", signal, deadline: 5 })).toEqual({
      idempotencyKey: "k",
      signal,
      deadline: 5,
    });
    expect(participantCallOptions({ idempotencyKey: "k" })).toEqual({ idempotencyKey: "k" });
  });
});
