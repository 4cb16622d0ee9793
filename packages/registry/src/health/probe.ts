import { type Clock, ConfigReader } from "@flotilla/resilience";
import { Agent } from "undici";
import type { HealthStatus } from "../registration.js";
import { httpProbe } from "./http-probe.js";
import { tcpProbe } from "./tcp-probe.js";

/** The outcome of one check run. */
export interface ProbeResult {
  readonly status: HealthStatus;
  /** Why, for anything but passing: `HTTP 503`, `ECONNREFUSED`, `timeout after 2000 ms`. */
  readonly output?: string;
}

/**
 * Runs single HTTP and TCP checks; the health checker's I/O, swapped for a fake in tests. Each
 * method should settle within about `timeoutMs` and stop its work when `signal` aborts; a probe
 * that throws or rejects counts as `critical` with the error's message.
 */
export interface Probe {
  /** `GET url`: 2xx passing, 429 warning, anything else critical (see {@link httpProbe}). */
  http(url: string, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult>;
  /** A TCP connect to `address`:`port`: accepted passing, anything else critical. */
  tcp(address: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult>;
}

/** Options of a {@link SystemProbe}. */
export interface SystemProbeOptions {
  /** Keep-alive connections kept per checked origin. Default 2. */
  readonly connectionsPerOrigin?: number;
  /**
   * How long an idle connection is kept for the next run. Default 15 s; a server's shorter
   * `Keep-Alive: timeout` hint wins, and checks run further apart than this connect afresh.
   */
  readonly keepAliveTimeoutMs?: number;
  /** Times each run's deadline. Default the system clock. */
  readonly clock?: Clock;
}

/**
 * The real {@link Probe}: HTTP through undici's `request` with a dedicated `Agent` (a small
 * keep-alive pool per origin, user agent `flotilla-registry`, the body drained up to 4 KiB so the
 * connection is reused), TCP through `node:net`. The agent is created at the first HTTP run;
 * {@link SystemProbe.close} destroys it and its connections. Idle connections do not keep the
 * process alive.
 */
export class SystemProbe implements Probe {
  readonly #clock: Clock;
  readonly #connections: number;
  readonly #keepAliveTimeout: number;
  #agent: Agent | undefined;

  constructor(options: SystemProbeOptions = {}) {
    const reader = new ConfigReader();
    const obj = reader.object(options, "");
    reader.knownKeys(obj, ["connectionsPerOrigin", "keepAliveTimeoutMs", "clock"], "");
    this.#connections = reader.number(obj, "connectionsPerOrigin", "", 2, { integer: true, min: 1 });
    this.#keepAliveTimeout = reader.number(obj, "keepAliveTimeoutMs", "", 15_000, { above: 0 });
    this.#clock = reader.clock(obj, "clock", "");
    reader.throwIfInvalid();
  }

  http(url: string, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
    this.#agent ??= new Agent({
      connections: this.#connections,
      keepAliveTimeout: this.#keepAliveTimeout,
      // Each run's own deadline (probeDeadline) bounds the connect; this is only the backstop.
      connect: { timeout: 10_000 },
    });
    return httpProbe(url, timeoutMs, signal, this.#agent, this.#clock);
  }

  tcp(address: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
    return tcpProbe(address, port, timeoutMs, signal, this.#clock);
  }

  /** Destroys the agent, failing any run still in flight; a later run creates a new one. */
  async close(): Promise<void> {
    const agent = this.#agent;
    this.#agent = undefined;
    await agent?.destroy();
  }
}

/**
 * A shared {@link SystemProbe} for code that does not manage one; its idle connections close by
 * themselves. A health checker created without a `probe` uses one of its own instead, closed with it.
 */
export const systemProbe: Probe = new SystemProbe();
