import { instanceOf } from "../collector.ts";
import { httpCall, newTraceId } from "../http-call.ts";
import type { TourContext } from "../tour-context.ts";

const requests = 10;

/**
 * Discovery and load balancing: the registry lists catalog's instances, and requests through the
 * gateway are spread over them. Each request starts a trace of its own, whose server span names
 * the instance that answered (`service.instance.id`).
 */
export async function loadBalancing(ctx: TourContext): Promise<void> {
  const { out } = ctx;
  out.section(
    1,
    "Discovery and load balancing",
    "Every instance registers with the registry; the gateway's `catalog` upstream takes the passing\n" +
      `instances from it and spreads requests over them. ${requests} product reads (Cache-Control: no-cache, so the\n` +
      "gateway's cache lets them through), each with a trace id; the trace says which instance answered.",
  );
  const listed = await httpCall(`${ctx.registryUrl}/v1/services/catalog`);
  const registered = (
    (listed.body as { instances?: { id: string; port: number; status: string }[] }).instances ?? []
  )
    .map((i) => `${i.id} (:${i.port}, ${i.status})`)
    .join(", ");
  out.info(`registry: catalog → ${registered || "no instances"}`);

  const traceIds: string[] = [];
  for (let i = 0; i < requests; i++) {
    const traceId = newTraceId();
    const path = "/api/products/p-mug";
    const answer = await ctx.gateway.call(path, { traceId, headers: { "cache-control": "no-cache" } });
    if (answer.status === 200) traceIds.push(traceId);
    else out.request("GET", path, answer, "not answered");
  }
  const served = new Map<string, number>();
  const rows: string[] = [];
  for (const [n, traceId] of traceIds.entries()) {
    const trace = await ctx.collector.waitForTrace(traceId, (t) =>
      t.spans.some((s) => s.service === "catalog"),
    );
    const span = trace?.spans.find((s) => s.service === "catalog" && s.depth === 0);
    const instance = span === undefined ? "(trace not found)" : instanceOf(span);
    if (span !== undefined) served.set(instance, (served.get(instance) ?? 0) + 1);
    rows.push(`#${String(n + 1).padStart(2)} → ${instance}`);
  }
  out.info(`GET /api/products/p-mug × ${requests}, answered by:`);
  for (let i = 0; i < rows.length; i += 5) out.info(`  ${rows.slice(i, i + 5).join("   ")}`);
  const spread = [...served].map(([instance, count]) => `${instance} ${count}×`).join(", ");
  out.verdict(
    served.size >= 2,
    served.size >= 2
      ? `${traceIds.length} requests spread over ${served.size} instances (${spread})`
      : `expected at least 2 catalog instances to answer, saw ${served.size} (${spread || "none"})`,
  );
}
