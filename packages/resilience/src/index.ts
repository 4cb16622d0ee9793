export { type Clock, systemClock, type TimerHandle } from "./clock.js";
export { Deadline } from "./deadline.js";
export { type Duration, parseDuration } from "./duration.js";
export * from "./errors.js";
export { EventStream, type Unsubscribe } from "./event-stream.js";
export { emptyContext, type Operation, type Policy, type PolicyContext } from "./policy-context.js";
export { sleep } from "./sleep.js";
