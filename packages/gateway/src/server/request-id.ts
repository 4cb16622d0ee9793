import { randomBytes } from "node:crypto";

const wellFormed = /^[A-Za-z0-9._:-]{1,128}$/;

// A random prefix per process and a counter: unique across a fleet (64 random bits per process)
// and far cheaper than a UUID per request.
const prefix = `${randomBytes(8).toString("hex")}-`;
let counter = 0;

/**
 * The client's `x-request-id` when it is a short token, else a new id (`<16 hex>-<base 36
 * counter>`): ids end up in logs and headers.
 */
export function requestId(header: string | string[] | undefined): string {
  return typeof header === "string" && wellFormed.test(header) ? header : prefix + (++counter).toString(36);
}
