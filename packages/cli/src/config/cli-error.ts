import { FlotillaError } from "@flotilla/resilience";

/** The stable error codes of the `flotilla` command. */
export const CliErrorCode = {
  /** The system description is missing, unreadable or invalid. */
  ConfigInvalid: "FLT_CLI_CONFIG_INVALID",
  /** No running system was found (no state file, or its process is gone). */
  NotRunning: "FLT_CLI_NOT_RUNNING",
  /** A command line that cannot be understood. */
  Usage: "FLT_CLI_USAGE",
  /** A component of the system failed to start. */
  StartFailed: "FLT_CLI_START_FAILED",
  /** A component of the system did not stop cleanly (it had died already, or had to be killed). */
  StopFailed: "FLT_CLI_STOP_FAILED",
  /** The running system answered a request with an error, or did not answer. */
  RequestFailed: "FLT_CLI_REQUEST_FAILED",
} as const;

/** One of {@link CliErrorCode}'s values. */
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

/** An error the `flotilla` command reports to its user: the message is printed, and the exit code is 1 (2 for usage). */
export class CliError extends FlotillaError {
  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
