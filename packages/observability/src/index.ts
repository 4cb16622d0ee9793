export type { Logger } from "pino";
export type {
  CheckReport,
  HealthCheck,
  HealthCheckContext,
  HealthCheckResult,
  HealthCheckSpec,
  HealthPhase,
  HealthReport,
  HealthStatus,
} from "./health/health-check.js";
export { HealthChecks, healthChecks, healthContentType } from "./health/health-checks.js";
export {
  type HealthChecksOptions,
  parseHealthChecksOptions,
  type ResolvedCheck,
  type ResolvedHealthChecksOptions,
} from "./health/health-checks-options.js";
export { HealthCheckFailedError, HealthCheckTimeoutError, HealthErrorCode } from "./health/health-error.js";
export { type HttpCheckOptions, httpCheck } from "./health/http-check.js";
export { postgresCheck, type Queryable } from "./health/postgres-check.js";
export { tcpCheck } from "./health/tcp-check.js";
export {
  censored,
  censorHeaders,
  headerSerializers,
  secretHeaderNames,
} from "./logging/header-serializers.js";
export { createLogger } from "./logging/logger.js";
export {
  type LoggerOptions,
  type LogLevel,
  logLevels,
  parseLoggerOptions,
  type ResolvedLoggerOptions,
} from "./logging/logger-options.js";
export { isRedactPath } from "./logging/redact-path.js";
export { noTraceFields, type TraceFields, traceFields } from "./logging/trace-fields.js";
export {
  type BoundObserver,
  HttpDurationHistogram,
  type HttpDurationHistogramOptions,
  httpDurationBuckets,
  httpDurationHistogram,
  overflowLabel,
} from "./metrics/http-duration-histogram.js";
export { httpMethodLabel, knownHttpMethods, otherHttpMethod } from "./metrics/http-method.js";
export {
  type InstrumentServerOptions,
  instrumentServer,
  type ServerObserver,
} from "./metrics/instrument-server.js";
export { createMetrics, Metrics } from "./metrics/metrics.js";
export { isMetricsConflictError, MetricsConflictError, MetricsErrorCode } from "./metrics/metrics-error.js";
export {
  type MetricsOptions,
  parseMetricsOptions,
  type ResolvedMetricsOptions,
  reservedLabelNames,
} from "./metrics/metrics-options.js";
export {
  ResilienceMetrics,
  type ResilienceMetricsSource,
  resilienceMetrics,
} from "./metrics/resilience-metrics.js";
