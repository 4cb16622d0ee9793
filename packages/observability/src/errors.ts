/**
 * Every error this package throws, with a stable `code` of the `FLT_OBS_*` family. They extend
 * `@flotilla/resilience`'s {@link FlotillaError}, so `isFlotillaError` recognises them, and their
 * type guards and `instanceof` check the code, not the prototype, so they hold across duplicate
 * copies of the package in one process.
 *
 * Invalid configuration is reported with `@flotilla/resilience`'s `ConfigError`
 * (`FLT_CONFIG_INVALID`), the one configuration error of every Flotilla package, which lists each
 * problem with its path.
 */

import { FlotillaError, isFlotillaError } from "@flotilla/resilience";

/** The stable error codes of `@flotilla/observability`. */
export const ObservabilityErrorCode = {
  TelemetryActive: "FLT_OBS_TELEMETRY_ACTIVE",
  NotMemoryExporter: "FLT_OBS_NOT_MEMORY_EXPORTER",
  ExportFailed: "FLT_OBS_EXPORT_FAILED",
} as const;

/** One of {@link ObservabilityErrorCode}'s values. */
export type ObservabilityErrorCode = (typeof ObservabilityErrorCode)[keyof typeof ObservabilityErrorCode];

function hasCode(value: unknown, code: string): boolean {
  return isFlotillaError(value) && value.code === code;
}

/**
 * Thrown by `initTelemetry` while the process-wide OpenTelemetry registrations (tracer provider,
 * context manager, propagator) are held by another live `Telemetry` or by another OpenTelemetry
 * SDK. Shut the other one down first.
 */
export class TelemetryActiveError extends FlotillaError {
  /** Which registration was taken: `trace`, `context` or `propagation`. */
  readonly registration: string;

  constructor(registration: string, detail: string) {
    super(
      ObservabilityErrorCode.TelemetryActive,
      `cannot register the OpenTelemetry ${registration} API: ${detail}; shut the other telemetry down first`,
    );
    this.registration = registration;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ObservabilityErrorCode.TelemetryActive);
  }
}

/** Thrown when finished spans are asked of a `Telemetry` whose exporter is not `"memory"`. */
export class NotMemoryExporterError extends FlotillaError {
  /** The exporter the telemetry was set up with. */
  readonly exporter: string;

  constructor(exporter: string) {
    super(
      ObservabilityErrorCode.NotMemoryExporter,
      `finished spans are kept only by the "memory" exporter; this telemetry exports with "${exporter}"`,
    );
    this.exporter = exporter;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ObservabilityErrorCode.NotMemoryExporter);
  }
}

/**
 * Rejects `Telemetry.forceFlush()` and `Telemetry.shutdown()` when spans could not be delivered
 * (the collector is down or refused them); those spans are lost. Shutdown has still released
 * everything when it rejects with this error.
 */
export class TraceExportError extends FlotillaError {
  /** The collector URL, when exporting over OTLP. */
  readonly endpoint: string | undefined;

  constructor(endpoint: string | undefined, options: { cause: unknown }) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(
      ObservabilityErrorCode.ExportFailed,
      `spans could not be exported${endpoint === undefined ? "" : ` to ${endpoint}`}: ${reason}`,
      options,
    );
    this.endpoint = endpoint;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, ObservabilityErrorCode.ExportFailed);
  }
}

/** Type guard for {@link TelemetryActiveError} across package copies. */
export const isTelemetryActiveError = (e: unknown): e is TelemetryActiveError =>
  hasCode(e, ObservabilityErrorCode.TelemetryActive);
/** Type guard for {@link NotMemoryExporterError} across package copies. */
export const isNotMemoryExporterError = (e: unknown): e is NotMemoryExporterError =>
  hasCode(e, ObservabilityErrorCode.NotMemoryExporter);
/** Type guard for {@link TraceExportError} across package copies. */
export const isTraceExportError = (e: unknown): e is TraceExportError =>
  hasCode(e, ObservabilityErrorCode.ExportFailed);
