import type { IncomingMessage, ServerResponse } from "node:http";
import type { GcraLimiter, RateDecision } from "@flotilla/resilience";
import { type ResolvedCheck, resolveChecks } from "../health/resolve-checks.js";
import type {
  CheckDefinition,
  InstanceRecord,
  RegistrationRequest,
  RegistrationResponse,
} from "../registration.js";
import { parseRegistrationRequest, registrationLimits } from "../registration-schema.js";
import type { ApiContext } from "./api-context.js";
import { HttpProblem, ServerProblemCode } from "./http-problem.js";
import { sendJson, sendProblem } from "./http-responses.js";
import { aggregateStatus, registrationChecks } from "./instance-status.js";
import { KeyedMutex } from "./keyed-mutex.js";
import { readBody } from "./read-body.js";
import {
  decodeInstance,
  decodeLease,
  encodeInstance,
  encodeLease,
  instanceKey,
  leaseKey,
} from "./store-layout.js";

const renewHeaders = ["content-type", "application/json", "cache-control", "no-store", "content-length"];

/**
 * `POST /v1/instances`, `DELETE /v1/instances/{service}/{id}` and `PUT /v1/leases/{lease}/renew`.
 * Registration and deregistration of one instance id run one at a time; every write answers
 * only once the server's view shows it, so the client's next read sees its own write.
 */
export class InstancesApi {
  readonly #ctx: ApiContext;
  readonly #limiter: GcraLimiter;
  readonly #mutex = new KeyedMutex();
  /** The answer to a renewal by TTL: `{"ttlMs":N}` and its headers, shared by every renewal. */
  readonly #renewAnswers = new Map<number, { readonly body: Buffer; readonly headers: string[] }>();

  constructor(ctx: ApiContext, limiter: GcraLimiter) {
    this.#ctx = ctx;
    this.#limiter = limiter;
  }

  /** `POST /v1/instances`. */
  async register(req: IncomingMessage, res: ServerResponse): Promise<void> {
    requireJson(req);
    const decision = this.#limiter.acquire("registrations") as RateDecision;
    if (!decision.allowed) {
      throw HttpProblem.limit(429, "too many registrations; retry later", decision.retryAfterMs);
    }
    const body = parseJson(await readBody(req, this.#ctx.options.limits.maxRegistrationBytes));
    const parsed = parseRegistrationRequest(body);
    if (!parsed.ok) throw HttpProblem.invalid(parsed.issues);
    const request = parsed.request;
    const definitions = resolveChecks(withTtlCheck(request.checks ?? []));
    const { view } = this.#ctx;
    if (
      view.instanceById(request.id) === undefined &&
      view.instanceCount >= this.#ctx.options.limits.maxInstances
    ) {
      throw HttpProblem.limit(
        429,
        `the registry holds its limit of ${this.#ctx.options.limits.maxInstances} instances`,
        5000,
      );
    }
    const answer = await this.#mutex.run(request.id, () => this.#register(request, definitions));
    this.#ctx.counters.registrations++;
    this.#ctx.logger.debug(
      { service: request.service, id: request.id, lease: answer.lease.id },
      "instance registered",
    );
    sendJson(res, 200, answer, answer.index);
  }

  /** `DELETE /v1/instances/{service}/{id}`. */
  async deregister(res: ServerResponse, service: string, id: string): Promise<void> {
    const index = await this.deregisterInstance(service, id);
    if (index === undefined) throw HttpProblem.notFound(`no instance "${id}" of service "${service}"`);
    this.#ctx.logger.debug({ service, id }, "instance deregistered");
    sendJson(res, 200, { index }, index);
  }

  /**
   * Removes `service`/`id` (only while it holds `lease`, when given) and revokes its lease.
   * Resolves the deletion's index, or `undefined` when there was no such instance.
   */
  deregisterInstance(service: string, id: string, lease?: string): Promise<number | undefined> {
    return this.#mutex.run(id, async () => {
      const { store, view, options } = this.#ctx;
      let current = view.instance(service, id)?.record;
      if (current === undefined) {
        const entry = await store.get(instanceKey(service, id));
        current = entry === undefined ? undefined : decodeInstance(entry)?.record;
      }
      if (current === undefined || (lease !== undefined && current.lease !== lease)) return undefined;
      const deleted = await store.delete(
        instanceKey(service, id),
        lease === undefined ? {} : { cas: current.modifyIndex },
      );
      if (!deleted.ok) return undefined;
      // After the record is gone the lease's deletion is not mistaken for a lapse.
      await store.revokeLease(current.lease).catch(() => false);
      await view.waitForIndex(deleted.index, options.catchUpTimeoutMs);
      return deleted.index;
    });
  }

  /**
   * `PUT /v1/leases/{lease}/renew`, the hot path: one `keepAlive`, no body parsing, no per-request
   * logging, a shared answer buffer per TTL.
   */
  renew(res: ServerResponse, lease: string): void {
    const ctx = this.#ctx;
    let renewal: Promise<boolean>;
    try {
      renewal = ctx.store.keepAlive(lease);
    } catch (error) {
      renewal = Promise.reject(error);
    }
    renewal.then(
      (known) => {
        if (!known) {
          sendProblem(res, HttpProblem.unknownLease(`unknown lease "${lease}": register again`));
          return;
        }
        ctx.counters.heartbeats++;
        const marker = ctx.view.lease(lease);
        if (marker !== undefined && marker.ttlMs > 0) {
          this.#sendRenewed(res, marker.ttlMs);
          return;
        }
        ctx.store.get(leaseKey(lease)).then(
          (entry) =>
            this.#sendRenewed(
              res,
              (entry && decodeLease(entry.value)?.ttlMs) || registrationLimits.defaultTtlMs,
            ),
          (error: unknown) => sendProblem(res, HttpProblem.from(error)),
        );
      },
      (error: unknown) => sendProblem(res, HttpProblem.from(error)),
    );
  }

  #sendRenewed(res: ServerResponse, ttlMs: number): void {
    if (res.destroyed) return;
    let answer = this.#renewAnswers.get(ttlMs);
    if (answer === undefined) {
      const body = Buffer.from(`{"ttlMs":${ttlMs}}`);
      answer = { body, headers: [...renewHeaders, String(body.length)] };
      if (this.#renewAnswers.size < 1024) this.#renewAnswers.set(ttlMs, answer);
    }
    res.writeHead(200, answer.headers);
    res.end(answer.body);
  }

  async #register(
    request: RegistrationRequest,
    definitions: readonly ResolvedCheck[],
  ): Promise<RegistrationResponse> {
    const { store, view, options } = this.#ctx;
    let previous: InstanceRecord | undefined;
    const ttlMs = request.ttlMs ?? registrationLimits.defaultTtlMs;
    const grant = await store.grantLease(ttlMs);
    let record: Omit<InstanceRecord, "modifyIndex">;
    let index: number;
    try {
      await store.put(
        leaseKey(grant.id),
        encodeLease({ service: request.service, id: request.id, ttlMs: grant.ttlMs }),
        { lease: grant.id },
      );
      const now = options.wallClock();
      // Read as late as possible: the checks keep the statuses written until now.
      const replaced = view.instanceById(request.id);
      previous = replaced?.record;
      const checks = registrationChecks(definitions, request, now, replaced);
      record = {
        id: request.id,
        service: request.service,
        address: request.address,
        port: request.port,
        version: request.version ?? "0.0.0",
        ...(request.zone === undefined ? {} : { zone: request.zone }),
        weight: request.weight ?? 1,
        tags: request.tags ?? [],
        metadata: request.metadata ?? {},
        status: aggregateStatus(checks),
        checks,
        lease: grant.id,
        ttlMs: grant.ttlMs,
        registeredAt: now,
      };
      const written = await store.put(
        instanceKey(request.service, request.id),
        encodeInstance(record, definitions),
      );
      if (!written.ok) throw new Error("an unconditional put was refused");
      index = written.index;
    } catch (error) {
      await store.revokeLease(grant.id).catch(() => false);
      throw error;
    }
    if (previous !== undefined) {
      if (previous.service !== request.service) {
        await store.delete(instanceKey(previous.service, previous.id), { cas: previous.modifyIndex });
      }
      if (previous.lease !== grant.id) await store.revokeLease(previous.lease).catch(() => false);
    }
    await view.waitForIndex(index, options.catchUpTimeoutMs);
    return {
      instance: { ...record, modifyIndex: index },
      lease: { id: grant.id, ttlMs: grant.ttlMs },
      index,
    };
  }
}

/** 415 unless the request says its body is JSON. */
export function requireJson(req: IncomingMessage): void {
  const type = req.headers["content-type"];
  const mime = type?.split(";", 1)[0]?.trim().toLowerCase();
  if (mime === "application/json" || (mime?.startsWith("application/") && mime.endsWith("+json"))) return;
  throw new HttpProblem({
    status: 415,
    code: ServerProblemCode.UnsupportedMediaType,
    title: "Unsupported media type",
    detail: `expected Content-Type: application/json, got ${type === undefined ? "none" : `"${type}"`}`,
    headers: { "accept-post": "application/json" },
  });
}

/** Parses a JSON body; 400 with path `""` when it is not JSON. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw HttpProblem.invalid([{ path: "", message: `malformed JSON: ${(error as Error).message}` }]);
  }
}

function withTtlCheck(checks: readonly CheckDefinition[]): CheckDefinition[] {
  return checks.some((c) => c.type === "ttl") ? [...checks] : [...checks, { type: "ttl" }];
}
