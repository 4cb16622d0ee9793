import type { HandlerContext } from "../handler-context.js";
import type { PipelineNext, PipelineRequest } from "../pipeline-step.js";
import { isRouteIdempotent } from "../route-idempotency.js";
import { problem, ServiceErrorCode } from "../service-error.js";
import { errorResponse, jsonContentType, type ServiceResponse } from "../service-response.js";
import { validationProblem } from "../validate-request.js";
import type { IdempotencyStore, StoredResponse } from "./idempotency-store.js";
import { requestFingerprint } from "./request-fingerprint.js";

/** The header on a replayed answer. */
export const idempotentReplayedHeader = "idempotent-replayed";

/** What the `idempotency` step needs. */
export interface IdempotencyStepOptions {
  readonly store: IdempotencyStore;
  /** How long a key is remembered. */
  readonly windowMs: number;
  /** How long a running request holds its key at least (the remaining deadline, when longer, wins). */
  readonly lockMs: number;
  /** Wall-clock epoch ms, to turn the deadline into a lock time. */
  readonly now: () => number;
}

const maxKeyLength = 255;

/**
 * The `idempotency` step: a request with an `idempotency-key` on a non-idempotent route runs once
 * per (route, key) within the window.
 *
 * - first request: claims the key, runs the rest of the chain, stores the answer (2xx–4xx) and
 *   returns it; a 5xx answer or a thrown error frees the key so a retry runs again;
 * - the same request while the first still runs: 409 `FLT_SERVICE_IDEMPOTENCY_IN_PROGRESS` with
 *   `retry-after: 1` (it is not made to wait: the first may be on another instance);
 * - the same request later: the stored answer with `idempotent-replayed: true`;
 * - the same key with another request (params, query or body hash differs): 422
 *   `FLT_SERVICE_IDEMPOTENCY_MISMATCH`.
 *
 * Requests without a key and idempotent routes (GET, PUT, DELETE unless declared otherwise) pass
 * straight through.
 */
export function idempotencyStep(options: IdempotencyStepOptions) {
  const { store, windowMs, lockMs, now } = options;
  return async (
    request: PipelineRequest,
    ctx: HandlerContext,
    next: PipelineNext,
  ): Promise<ServiceResponse> => {
    const key = ctx.idempotencyKey;
    if (key === undefined || isRouteIdempotent(request.definition)) return next();
    if (key.length === 0 || key.length > maxKeyLength) {
      throw validationProblem([
        { path: "headers.idempotency-key", message: `must be 1 to ${maxKeyLength} characters long` },
      ]);
    }
    const fingerprint = requestFingerprint(request.received);
    const lock = ctx.deadline === undefined ? lockMs : Math.max(lockMs, ctx.deadline - now());
    const begun = await store.begin(request.route, key, fingerprint, { windowMs, lockMs: lock });
    switch (begun.outcome) {
      case "in-progress":
        throw problem(409, `a request with idempotency key "${key}" is still being processed; retry later`, {
          code: ServiceErrorCode.IdempotencyInProgress,
          headers: { "retry-after": "1" },
        });
      case "mismatch":
        throw problem(422, `idempotency key "${key}" was already used with a different request`, {
          code: ServiceErrorCode.IdempotencyMismatch,
        });
      case "completed":
        return replay(begun.response);
    }
    let response: ServiceResponse;
    try {
      response = await next();
    } catch (error) {
      response = errorResponse(error, ctx);
    }
    try {
      if (response.status >= 500) {
        await store.release(request.route, key, begun.token);
        return response;
      }
      const stored = toStored(response);
      await store.complete(request.route, key, begun.token, stored);
      return { ...response, json: stored.body };
    } catch (error) {
      ctx.logger.error({ err: error, idempotencyKey: key }, "could not record the idempotent answer");
      return response;
    }
  };
}

function toStored(response: ServiceResponse): StoredResponse {
  const body = response.json ?? (response.body === undefined ? undefined : JSON.stringify(response.body));
  const headers: Record<string, string> = { ...response.headers };
  if (body !== undefined) headers["content-type"] = response.contentType ?? jsonContentType;
  return { status: response.status, headers, body };
}

function replay(stored: StoredResponse): ServiceResponse {
  const { "content-type": contentType, ...headers } = stored.headers;
  return {
    status: stored.status,
    json: stored.body,
    contentType,
    headers: { ...headers, [idempotentReplayedHeader]: "true" },
  };
}
