import { renderWaterfall, type WaterfallTrace } from "@flotilla/observability";
import { CliError, CliErrorCode } from "../config/cli-error.js";
import { requireState } from "../state/system-state.js";
import { type CommandContext, println } from "./command-context.js";
import { requestJson, table } from "./system-api.js";

/** Filters of {@link tracesCommand}. */
export interface TracesFilters {
  readonly service?: string;
  /** Only traces at least this long, in milliseconds. */
  readonly slowMs?: number;
  readonly errors?: boolean;
  /** Default 20. */
  readonly limit?: number;
}

interface TraceSummaryJson {
  traceId: string;
  rootService: string;
  rootOperation: string;
  startMs: number;
  durationMs: number;
  spanCount: number;
  errorCount: number;
  services: string[];
}

/** `flotilla traces [--service s] [--slow ms] [--errors] [--limit n]`: recent traces from the collector, most recent first. */
export async function tracesCommand(ctx: CommandContext, filters: TracesFilters): Promise<number> {
  const state = await requireState(ctx.stateDir);
  const query = new URLSearchParams({ limit: String(filters.limit ?? 20) });
  if (filters.service !== undefined) query.set("service", filters.service);
  if (filters.slowMs !== undefined) query.set("minDuration", `${filters.slowMs}ms`);
  if (filters.errors === true) query.set("errorsOnly", "true");
  const { traces } = await requestJson<{ traces: TraceSummaryJson[] }>(
    `${state.urls.collector}/api/traces?${query}`,
  );
  if (traces.length === 0) {
    println(ctx, "no traces match");
    return 0;
  }
  const rows = [["TRACE", "STARTED", "DURATION", "SPANS", "ERRORS", "ROOT"]];
  for (const t of traces) {
    rows.push([
      t.traceId,
      new Date(t.startMs).toISOString().slice(11, 23),
      `${t.durationMs.toFixed(1)} ms`,
      String(t.spanCount),
      String(t.errorCount),
      `${t.rootService} ${t.rootOperation}`,
    ]);
  }
  println(ctx, table(rows));
  return 0;
}

/** `flotilla trace <id>`: one trace as a terminal waterfall. */
export async function traceCommand(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const [traceId] = args;
  if (traceId === undefined || !/^[0-9a-fA-F]{32}$/.test(traceId)) {
    throw new CliError(CliErrorCode.Usage, "usage: flotilla trace <trace id: 32 hex digits>");
  }
  const state = await requireState(ctx.stateDir);
  const view = await requestJson<WaterfallTrace>(
    `${state.urls.collector}/api/traces/${traceId.toLowerCase()}`,
  );
  ctx.stdout.write(renderWaterfall(view, { width: ctx.stdout.columns ?? 100, colors: ctx.colors }));
  return 0;
}
