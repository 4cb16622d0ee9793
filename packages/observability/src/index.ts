export type { ReadableSpan } from "@opentelemetry/sdk-trace";
export type { Logger } from "pino";
export type { Attributes, AttributeValue } from "./collector/attribute-value.js";
export { type CollectedBatch, collectSpans, type SpanRejection } from "./collector/collect-spans.js";
export {
  type CollectedSpan,
  type CollectedSpanEvent,
  type CollectedSpanLink,
  isErrorSpan,
  OtlpSpanKind,
  OtlpStatusCode,
  unknownService,
} from "./collector/collected-span.js";
export { type Collector, startCollector } from "./collector/collector.js";
export {
  BodyTooLargeError,
  CollectorErrorCode,
  CollectorListenError,
  InvalidTraceQueryError,
  isBodyTooLargeError,
  isCollectorListenError,
  isInvalidTraceQueryError,
  isOtlpDecodeError,
  isUnsupportedMediaTypeError,
  OtlpDecodeError,
  UnsupportedMediaTypeError,
} from "./collector/collector-error.js";
export { collectorJson } from "./collector/collector-json.js";
export {
  type CollectorOptions,
  collectorDefaults,
  parseCollectorOptions,
  type ResolvedCollectorOptions,
} from "./collector/collector-options.js";
export {
  buildDependencyGraph,
  type DependencyEdge,
  type DependencyGraph,
  type DependencyNode,
} from "./collector/dependency-graph.js";
export { decodeTraceRequestJson } from "./collector/otlp-json-decoder.js";
export { decodeTraceRequestProtobuf } from "./collector/otlp-protobuf-decoder.js";
export type {
  OtlpInstrumentationScope,
  OtlpResource,
  OtlpResourceSpans,
  OtlpScopeSpans,
  OtlpSpan,
  OtlpSpanEvent,
  OtlpSpanLink,
  OtlpStatus,
  OtlpTraceRequest,
} from "./collector/otlp-trace-request.js";
export { type AddSpansResult, SpanStore, type SpanStoreStats, spanStore } from "./collector/span-store.js";
export {
  type ResolvedSpanStoreOptions,
  type SpanStoreOptions,
  spanStoreDefaults,
} from "./collector/span-store-options.js";
export type { TimeInput, TimeWindow, TraceQuery } from "./collector/trace-query.js";
export type { TraceSummary } from "./collector/trace-summary.js";
export {
  buildTraceTree,
  flattenTraceTree,
  type SpanNode,
  type TraceRow,
  type TraceTree,
} from "./collector/trace-tree.js";
export { type TraceView, type TraceViewSpan, traceView } from "./collector/trace-view.js";
export {
  renderWaterfall,
  type WaterfallOptions,
  type WaterfallSpan,
  type WaterfallTrace,
} from "./collector/waterfall.js";
export {
  isNotMemoryExporterError,
  isTelemetryActiveError,
  isTraceExportError,
  NotMemoryExporterError,
  ObservabilityErrorCode,
  TelemetryActiveError,
  TraceExportError,
} from "./errors.js";
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
export { CallSpan, type CallSpanInit, inboundCallSpan, outboundCallSpan } from "./tracing/call-span.js";
export {
  type ContextCarrier,
  extractContext,
  type HeadersLikeCarrier,
  injectContext,
} from "./tracing/context-carrier.js";
export { currentTraceIds, type TraceIds } from "./tracing/current-trace-ids.js";
export { setHttpRoute } from "./tracing/http-route.js";
export { activeTelemetry, initTelemetry, Telemetry } from "./tracing/telemetry.js";
export { telemetryOptionsFromEnv } from "./tracing/telemetry-env.js";
export {
  type BatchOptions,
  defaultTraceEndpoint,
  type HttpInstrumentationOptions,
  type InstrumentationOptions,
  type OtlpProtocol,
  type PgInstrumentationOptions,
  parseTelemetryOptions,
  type ResolvedTelemetryOptions,
  type TelemetryOptions,
  type TraceExporterKind,
} from "./tracing/telemetry-options.js";
export {
  type HttpHandler,
  type TraceHttpServerOptions,
  traceHttpServer,
} from "./tracing/trace-http-server.js";
export {
  type B3Injection,
  type TracePropagatorOptions,
  tracePropagator,
} from "./tracing/trace-propagator.js";
export { untraced } from "./tracing/untraced.js";
