import { z } from "zod";
import { defineEvent } from "../envelope/define-event.js";

/**
 * The reply a command handler sends instead of its reply event when the command failed for good
 * (a `PermanentError`, or the command was dead-lettered): `code` is `permanent` or the dead-letter
 * code, `message` the handler's or the consumer's reason. The requester turns it into a
 * `FLT_MESSAGING_COMMAND_FAILED` error.
 */
export const commandFailed = defineEvent({
  type: "flotilla.command-failed",
  schema: z.object({
    /** The type of the command that failed. */
    command: z.string(),
    code: z.string(),
    message: z.string(),
  }),
});
