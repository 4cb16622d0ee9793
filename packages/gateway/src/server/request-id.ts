import { randomUUID } from "node:crypto";

const wellFormed = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's `x-request-id` when it is a short token, else a new UUID: ids end up in logs and headers. */
export function requestId(header: string | string[] | undefined): string {
  return typeof header === "string" && wellFormed.test(header) ? header : randomUUID();
}
