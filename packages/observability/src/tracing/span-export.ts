import type { Agent } from "node:http";
import { OTLPTraceExporter as OtlpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OtlpProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace";
import type { ResolvedTelemetryOptions } from "./telemetry-options.js";

/** The span processors for the configured exporter, and the memory exporter when there is one. */
export interface SpanExport {
  readonly processors: SpanProcessor[];
  readonly memory: InMemorySpanExporter | undefined;
  /** Closes the exporter's keep-alive connections; call after the processors have shut down. */
  close(): void;
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
      return { processors: [], memory: undefined, close: nothingToClose };
    case "memory": {
      const memory = new InMemorySpanExporter();
      return { processors: [new SimpleSpanProcessor({ exporter: memory })], memory, close: nothingToClose };
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
          for (const agent of agents.splice(0)) agent.destroy();
        },
      };
    }
  }
}
