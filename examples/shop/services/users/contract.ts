import { defineContract, route } from "@flotilla/service";
import { z } from "zod";

/** A user's public profile. */
export const profile = z.object({ id: z.string(), email: z.string(), name: z.string() });

/** The users service: profiles, demo tokens and the key set the gateway verifies them with. */
export const users = defineContract({
  name: "users",
  version: "1.0.0",
  routes: {
    issueToken: route({
      method: "POST",
      path: "/token",
      body: z.object({ email: z.email() }),
      response: z.object({
        accessToken: z.string(),
        tokenType: z.literal("Bearer"),
        expiresIn: z.number().int(),
      }),
      idempotent: true,
      summary: "Logs a user in (demo: no password) and issues an RS256 access token.",
    }),
    jwks: route({
      method: "GET",
      path: "/.well-known/jwks.json",
      response: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }),
      summary: "The public keys access tokens are signed with (RFC 7517).",
    }),
    me: route({
      method: "GET",
      path: "/me",
      response: profile,
      summary: "The profile of the authenticated user (x-flotilla-subject).",
    }),
    getUser: route({
      method: "GET",
      path: "/users/:id",
      params: z.object({ id: z.string().min(1) }),
      response: profile,
    }),
    createUser: route({
      method: "POST",
      path: "/users",
      body: z.object({ email: z.email(), name: z.string().min(1).max(200) }),
      response: profile,
      status: 201,
    }),
  },
});
