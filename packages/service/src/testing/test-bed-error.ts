import { FlotillaError, isFlotillaError } from "@flotilla/resilience";

/** The stable codes of the errors a test bed throws. */
export const TestBedErrorCode = {
  /** The options are malformed: no services, a service given twice, a bad instance count. */
  InvalidOptions: "FLT_TEST_BED_INVALID_OPTIONS",
  /** No such service in the bed, or no such instance of it, or that instance is stopped. */
  UnknownInstance: "FLT_TEST_BED_UNKNOWN_INSTANCE",
  /** An instance did not show up as available in the registry in time, or spans did not arrive in time. */
  Timeout: "FLT_TEST_BED_TIMEOUT",
  /** `spans()` on a bed started without `telemetry`. */
  NoTelemetry: "FLT_TEST_BED_NO_TELEMETRY",
  /** The bed was closed. */
  Closed: "FLT_TEST_BED_CLOSED",
  /** `close()` could not undo everything (a database left behind); each failure is in `errors`. */
  CloseFailed: "FLT_TEST_BED_CLOSE_FAILED",
} as const;

/** One of {@link TestBedErrorCode}'s values. */
export type TestBedErrorCode = (typeof TestBedErrorCode)[keyof typeof TestBedErrorCode];

/** Thrown by `startTestBed` and the methods of a `TestBed`; `code` says which problem it is. */
export class TestBedError extends FlotillaError {
  /** For `FLT_TEST_BED_CLOSE_FAILED`: every step of `close()` that failed. */
  readonly errors: readonly unknown[];

  constructor(code: TestBedErrorCode, message: string, options?: { cause?: unknown; errors?: unknown[] }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.errors = options?.errors ?? [];
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isTestBedError(value);
  }
}

const codes: ReadonlySet<string> = new Set(Object.values(TestBedErrorCode));

/** True for a {@link TestBedError}, from any copy of the package. */
export function isTestBedError(value: unknown): value is TestBedError {
  return isFlotillaError(value) && codes.has(value.code);
}
