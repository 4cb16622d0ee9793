// The callee's contract, shared by the callee (implements it) and the Flotilla caller (typed client).
import { defineContract, route } from "@flotilla/service";
import { z } from "zod";

export const echoContract = defineContract({
  name: "echo",
  version: "1.0.0",
  routes: {
    get: route({
      method: "GET",
      path: "/echo/:id",
      params: z.object({ id: z.string() }),
      response: z.object({ id: z.string(), service: z.string(), n: z.number() }),
    }),
  },
});

/** The answer both callees give, for the same `id`. */
export function echoAnswer(id: string): { id: string; service: string; n: number } {
  return { id, service: "echo", n: 42 };
}
