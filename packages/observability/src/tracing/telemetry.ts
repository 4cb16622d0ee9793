import { context, propagation, type Tracer, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  type InMemorySpanExporter,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import {
  ATTR_SERVICE_INSTANCE_ID,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
} from "@opentelemetry/semantic-conventions";
import { NotMemoryExporterError, TelemetryActiveError, TraceExportError } from "../errors.js";
import { setHeadSampling } from "./head-sampling.js";
import { enableInstrumentations } from "./instrumentations.js";
import { PooledIdGenerator } from "./pooled-id-generator.js";
import { PropagationHeaders } from "./propagation-headers.js";
import { createSpanExport } from "./span-export.js";
import {
  parseTelemetryOptions,
  type ResolvedTelemetryOptions,
  type TelemetryOptions,
} from "./telemetry-options.js";
import { tracePropagator } from "./trace-propagator.js";

let active: Telemetry | undefined;

/**
 * The live `Telemetry` of this process, if one was started (by `initTelemetry` or the
 * `@flotilla/observability/register` preload) and not shut down yet. Lets a service that was
 * started with the preload flush and shut telemetry down on its way out.
 */
export function activeTelemetry(): Telemetry | undefined {
  return active;
}

/**
 * Starts tracing for this process with the OpenTelemetry JS SDK: a tracer provider with the
 * service's resource, parent-based ratio sampling, random ids cut from a pooled `crypto` source,
 * the `AsyncLocalStorage` context manager, the W3C (+ B3 on extraction) propagator, the
 * configured exporter and the official `node:http`, undici/`fetch` and `pg` instrumentations.
 * These are process-wide registrations, so one `Telemetry` is live at a time.
 *
 * Load order does not matter for what it instruments: `node:http` is patched in place (ESM named
 * imports included), undici and `fetch` report through diagnostics channels, and a `pg` that was
 * loaded before is found and patched. Starting it first is still the rule (instrumentations
 * added later may need it), which `node --import @flotilla/observability/register app.js` does
 * from the standard `OTEL_*` environment variables.
 *
 * Throws `ConfigError` (`FLT_CONFIG_INVALID`) for bad options and {@link TelemetryActiveError}
 * (`FLT_OBS_TELEMETRY_ACTIVE`) while another telemetry holds the registrations.
 *
 * ```ts
 * const telemetry = initTelemetry({ serviceName: "orders", serviceVersion: "1.4.0", sampleRatio: 0.1 });
 * // … serve …
 * await telemetry.shutdown();
 * ```
 */
export function initTelemetry(options: TelemetryOptions): Telemetry {
  return new Telemetry(options);
}

/** A started tracing setup; see {@link initTelemetry}. */
export class Telemetry {
  /** The options in force, with every default applied. */
  readonly options: ResolvedTelemetryOptions;
  /** The SDK tracer provider; its tracers create spans with this telemetry's resource and sampler. */
  readonly tracerProvider: TracerProvider;
  /** A tracer named after the service, for spans the application starts itself. */
  readonly tracer: Tracer;
  readonly #memory: InMemorySpanExporter | undefined;
  readonly #disableInstrumentations: () => void;
  readonly #closeExport: () => void;
  #shutdown: Promise<void> | undefined;

  /** Prefer {@link initTelemetry}. Validates `options` and registers everything at once. */
  constructor(options: TelemetryOptions) {
    const resolved = parseTelemetryOptions(options);
    if (active !== undefined) {
      throw new TelemetryActiveError("trace", `telemetry of "${active.options.serviceName}" is running`);
    }
    this.options = resolved;

    const { processors, memory, close } = createSpanExport(resolved);
    this.#memory = memory;
    this.#closeExport = close;
    const sampler = parentBasedSampler(resolved.sampleRatio);
    const ids = new PooledIdGenerator();
    this.tracerProvider = new TracerProvider({
      resource: defaultResource().merge(
        resourceFromAttributes({
          ...resolved.attributes,
          [ATTR_SERVICE_NAME]: resolved.serviceName,
          [ATTR_SERVICE_VERSION]: resolved.serviceVersion,
          [ATTR_SERVICE_INSTANCE_ID]: resolved.instanceId,
        }),
      ),
      sampler,
      idGenerator: ids,
      spanProcessors: processors,
    });

    const contextManager = new AsyncLocalStorageContextManager().enable();
    if (!context.setGlobalContextManager(contextManager)) {
      contextManager.disable();
      this.#discard();
      throw new TelemetryActiveError("context", "another context manager is registered");
    }
    const propagator = tracePropagator({ injectB3: resolved.injectB3 });
    if (!propagation.setGlobalPropagator(propagator)) {
      context.disable();
      this.#discard();
      throw new TelemetryActiveError("propagation", "another propagator is registered");
    }
    if (!trace.setGlobalTracerProvider(this.tracerProvider)) {
      propagation.disable();
      context.disable();
      this.#discard();
      throw new TelemetryActiveError("trace", "another tracer provider is registered");
    }
    this.tracer = this.tracerProvider.getTracer(resolved.serviceName, resolved.serviceVersion);
    this.#disableInstrumentations = enableInstrumentations(resolved, this.tracerProvider);
    const traceparentAlone = PropagationHeaders.readWith(propagator, {
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    });
    setHeadSampling({
      provider: this.tracerProvider,
      sampler,
      ids,
      propagationHeaders: PropagationHeaders.of(propagator),
      standard:
        traceparentAlone === undefined
          ? undefined
          : { headers: traceparentAlone, injectsB3: resolved.injectB3 !== false },
      rootUpperBound: rootUpperBound(resolved.sampleRatio),
    });
    active = this;
  }

  /** Shuts down a provider that never started serving, when a registration was refused. */
  #discard(): void {
    this.tracerProvider.shutdown().then(this.#closeExport, this.#closeExport);
  }

  /** True once {@link Telemetry.shutdown} has been called. */
  get isShutdown(): boolean {
    return this.#shutdown !== undefined;
  }

  /** A tracer for the instrumentation scope `name` (a library or module of the service). */
  getTracer(name: string, version?: string): Tracer {
    return this.tracerProvider.getTracer(name, version);
  }

  /**
   * Exports every span that has ended and not been exported yet; resolves when the exporter is
   * done, rejects with {@link TraceExportError} (`FLT_OBS_EXPORT_FAILED`) when it failed.
   */
  async forceFlush(): Promise<void> {
    try {
      await this.tracerProvider.forceFlush();
    } catch (error) {
      throw this.#exportError(error);
    }
  }

  /**
   * Stops tracing: disables the instrumentations (restoring the patched modules), flushes and
   * shuts down the span processors and exporter, and releases the process-wide registrations so
   * a new telemetry can start. Idempotent: later calls return the first call's promise. Leaves
   * no timer, socket or listener behind. Rejects with {@link TraceExportError}
   * (`FLT_OBS_EXPORT_FAILED`) when the last spans could not be delivered, after releasing
   * everything all the same.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#stop();
    return this.#shutdown;
  }

  async #stop(): Promise<void> {
    setHeadSampling(undefined);
    this.#disableInstrumentations();
    try {
      await this.tracerProvider.shutdown();
    } catch (error) {
      throw this.#exportError(error);
    } finally {
      this.#closeExport();
      trace.disable();
      propagation.disable();
      context.disable();
      if (active === this) active = undefined;
    }
  }

  /**
   * The spans that have ended so far, oldest first. Only for the `"memory"` exporter; throws
   * {@link NotMemoryExporterError} (`FLT_OBS_NOT_MEMORY_EXPORTER`) otherwise.
   */
  finishedSpans(): readonly ReadableSpan[] {
    return this.#memoryExporter().getFinishedSpans();
  }

  /** Forgets the spans returned by {@link Telemetry.finishedSpans} so far (`"memory"` exporter only). */
  clearFinishedSpans(): void {
    this.#memoryExporter().reset();
  }

  #exportError(cause: unknown): TraceExportError {
    return new TraceExportError(this.options.exporter === "otlp" ? this.options.endpoint : undefined, {
      cause,
    });
  }

  #memoryExporter(): InMemorySpanExporter {
    if (this.#memory === undefined) throw new NotMemoryExporterError(this.options.exporter);
    return this.#memory;
  }
}

/**
 * The bound {@link parentBasedSampler}'s root sampler compares a folded trace id with: the
 * `TraceIdRatioBasedSampler`'s (@opentelemetry/sdk-trace), 0 for `AlwaysOffSampler` and 2^32 for
 * `AlwaysOnSampler`. The equivalence is tested against the SDK's sampler.
 * @internal
 */
export function rootUpperBound(ratio: number): number {
  if (ratio >= 1) return 2 ** 32;
  if (ratio <= 0) return 0;
  return Math.floor(ratio * 0xffffffff);
}

function parentBasedSampler(ratio: number): Sampler {
  const root =
    ratio >= 1
      ? new AlwaysOnSampler()
      : ratio <= 0
        ? new AlwaysOffSampler()
        : new TraceIdRatioBasedSampler(ratio);
  return new ParentBasedSampler({ root });
}
