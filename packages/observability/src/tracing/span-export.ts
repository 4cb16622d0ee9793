import type { Agent } from "node:http";
import { OTLPTraceExporter as OtlpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OtlpProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace";
import { OtlpSocketTransport } from "./otlp-socket-transport.js";
import { encodeTraceExportRequest } from "./otlp-span-encoder.js";
import type { ResolvedTelemetryOptions } from "./telemetry-options.js";

/** The span processors for the configured exporter, and the memory exporter when there is one. */
export interface SpanExport {
  readonly processors: SpanProcessor[];
  readonly memory: InMemorySpanExporter | undefined;
  /** Closes the exporter's keep-alive connections; call after the processors have shut down. */
  close(): void;
  /** True when the protobuf exporter encodes with {@link encodeTraceExportRequest}. */
  readonly fastEncoding: boolean;
  /** True when the exporter sends through an {@link OtlpSocketTransport} instead of `node:http`. */
  readonly socketTransport: boolean;
}

const nothingToClose = (): void => {};

/**
 * `otlp`: one batch span processor in front of the OTLP/HTTP exporter (protobuf or JSON), so a
 * request never waits for the network and export cost is paid once per batch. `memory`: a
 * simple processor, so each span is readable as soon as it ends. `none`: no processor.
 * @internal
 */
export function createSpanExport(options: ResolvedTelemetryOptions): SpanExport {
  switch (options.exporter) {
    case "none":
      return {
        processors: [],
        memory: undefined,
        close: nothingToClose,
        fastEncoding: false,
        socketTransport: false,
      };
    case "memory": {
      const memory = new InMemorySpanExporter();
      return {
        processors: [new SimpleSpanProcessor({ exporter: memory })],
        memory,
        close: nothingToClose,
        fastEncoding: false,
        socketTransport: false,
      };
    }
    case "otlp": {
      // The exporter's own transport never closes its keep-alive agent; owning the agent lets
      // shutdown leave no socket behind.
      const agents: Agent[] = [];
      const config = {
        url: options.endpoint,
        headers: { ...options.headers },
        timeoutMillis: options.batch.exportTimeoutMs,
        httpAgentOptions: async (protocol: string): Promise<Agent> => {
          const { Agent } = await (protocol === "http:" ? import("node:http") : import("node:https"));
          const agent = new Agent({ keepAlive: true });
          agents.push(agent);
          return agent;
        },
      };
      const exporter =
        options.protocol === "http/json" ? new OtlpJsonExporter(config) : new OtlpProtoExporter(config);
      const fastEncoding = exporter instanceof OtlpProtoExporter && useSpanEncoder(exporter);
      const socketTransport = useSocketTransport(exporter);
      const { maxQueueSize, maxExportBatchSize, scheduledDelayMs, exportTimeoutMs } = options.batch;
      const processor = new BatchSpanProcessor({
        exporter,
        maxQueueSize,
        maxExportBatchSize,
        scheduledDelayMillis: scheduledDelayMs,
        exportTimeoutMillis: exportTimeoutMs,
      });
      return {
        processors: [processor],
        memory: undefined,
        close: () => {
          socketTransport?.shutdown();
          for (const agent of agents.splice(0)) agent.destroy();
        },
        fastEncoding,
        socketTransport: socketTransport !== undefined,
      };
    }
  }
}

/** The part of the exporter's serializer that the export delegate calls. */
interface Serializer {
  serializeRequest(spans: ReadableSpan[]): Uint8Array | undefined;
  deserializeResponse(data: Uint8Array): unknown;
}

/**
 * Has the SDK's protobuf exporter encode requests with {@link encodeTraceExportRequest}, which
 * writes the same bytes at a third of the SDK serializer's cost, and keeps everything else of the
 * exporter: transport, retries, timeouts, headers and compression from the `OTEL_*` variables,
 * response handling. The serializer sits in a field of the exporter's internals
 * (`_delegate._serializer`, @opentelemetry/otlp-exporter-base 0.301); when a later SDK moves it,
 * the exporter keeps its own and this returns `false`.
 */
function useSpanEncoder(exporter: OtlpProtoExporter): boolean {
  const delegate = (exporter as unknown as { _delegate?: { _serializer?: Partial<Serializer> } })._delegate;
  const sdk = delegate?._serializer;
  if (
    delegate === undefined ||
    typeof sdk?.serializeRequest !== "function" ||
    typeof sdk.deserializeResponse !== "function"
  ) {
    return false;
  }
  const deserializeResponse = sdk.deserializeResponse.bind(sdk);
  const serializer: Serializer = { serializeRequest: encodeTraceExportRequest, deserializeResponse };
  delegate._serializer = serializer;
  return true;
}

/** The SDK's HTTP transport parameters (otlp-exporter-base 0.301, `HttpExporterTransport._parameters`). */
interface HttpTransportParameters {
  url: string;
  headers: () => Promise<Record<string, string>>;
  compression?: string;
  userAgent?: string;
}

/**
 * Puts an {@link OtlpSocketTransport} under the SDK's retrying transport when the exporter sends
 * plain `http:` without compression, so that export requests stay out of `node:http`'s client.
 * The inner transport sits in the exporter's internals (`_delegate._transport._transport`,
 * @opentelemetry/otlp-exporter-base 0.301); when a later SDK moves it, the SDK's transport stays.
 */
function useSocketTransport(exporter: object): OtlpSocketTransport | undefined {
  const retrying = (exporter as { _delegate?: { _transport?: { _transport?: unknown } } })._delegate
    ?._transport;
  const inner = retrying?._transport as { _parameters?: Partial<HttpTransportParameters> } | undefined;
  const parameters = inner?._parameters;
  if (
    retrying === undefined ||
    typeof parameters?.url !== "string" ||
    typeof parameters.headers !== "function" ||
    (parameters.compression !== undefined && parameters.compression !== "none")
  ) {
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(parameters.url);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:") return undefined;
  const transport = new OtlpSocketTransport({
    url,
    headers: parameters.headers,
    userAgent: parameters.userAgent,
  });
  retrying._transport = transport;
  return transport;
}
