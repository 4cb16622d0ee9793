import type { Agent, Dispatcher } from "undici";
import { GatewayError, GatewayErrorCode } from "../chain/gateway-error.js";
import type { UpstreamCaller, UpstreamReply, UpstreamRequest } from "../chain/upstream-caller.js";
import type { Upstream } from "./upstream.js";

/**
 * The {@link UpstreamCaller} of composite endpoints: each call goes to an instance of the named
 * upstream picked by its balancer (outlier detection and load reports included), over the
 * gateway's connection pools, and is aborted by the request's signal.
 */
export function pooledUpstreamCaller(upstreams: ReadonlyMap<string, Upstream>, agent: Agent): UpstreamCaller {
  return {
    async call(request: UpstreamRequest): Promise<UpstreamReply> {
      const upstream = upstreams.get(request.upstream);
      if (upstream === undefined) {
        throw new GatewayError(GatewayErrorCode.Internal, `no upstream named "${request.upstream}"`);
      }
      const instance = upstream.pick(undefined, undefined);
      if (instance === undefined) {
        throw new GatewayError(GatewayErrorCode.Unavailable, `no instance of upstream "${request.upstream}"`);
      }
      const started = performance.now();
      try {
        const res = await agent.request({
          origin: upstream.origin(instance),
          path: request.path,
          method: request.method as Dispatcher.HttpMethod,
          headers: request.headers,
          body: request.body ?? null,
          signal: request.signal,
        });
        const body = Buffer.from(await res.body.arrayBuffer());
        upstream.report(instance, res.statusCode, undefined, performance.now() - started);
        return { status: res.statusCode, headers: res.headers, body };
      } catch (error) {
        upstream.report(instance, undefined, error, performance.now() - started);
        throw error;
      }
    },
  };
}
