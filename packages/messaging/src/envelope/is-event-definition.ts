import type { EventDefinition } from "./define-event.js";

/**
 * True when `value` looks like what {@link defineEvent} returns (a string `type` and a schema with
 * `safeParse`): the check every API taking event definitions makes before it trusts one. Duck-typed,
 * so it holds across duplicate copies of the package.
 */
export function isEventDefinition(value: unknown): value is EventDefinition {
  const event = value as Partial<EventDefinition> | null | undefined;
  return typeof event?.type === "string" && typeof event.schema?.safeParse === "function";
}
