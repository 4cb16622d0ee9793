import { type Context, context } from "@opentelemetry/api";
import { getRPCMetadata, RPCType } from "@opentelemetry/core";

/**
 * Names the route template that matched the current inbound HTTP request, such as
 * `/users/:id`. The server span then ends named `GET /users/:id` with `http.route` set; without
 * it the span is named by the method alone (`GET`), never by the raw path, whose ids would make
 * every span name unique. Call it from the router (a Fastify `onRequest` hook with
 * `request.routeOptions.url`, for instance) while the request's context is active; outside an
 * inbound HTTP request it does nothing and returns `false`.
 */
export function setHttpRoute(route: string, ctx: Context = context.active()): boolean {
  const metadata = getRPCMetadata(ctx);
  if (metadata?.type !== RPCType.HTTP) return false;
  metadata.route = route;
  return true;
}
