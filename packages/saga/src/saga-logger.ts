import type { MessagingLogger } from "@flotilla/messaging";

/**
 * The logger every part of `@flotilla/saga` writes to: pino-compatible (`debug`/`info`/`warn`/`error`
 * with a fields object first, optional `child`). A pino `Logger` fits as it is. Default: silent.
 */
export type SagaLogger = MessagingLogger;
