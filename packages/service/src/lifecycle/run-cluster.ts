import cluster, { type Worker } from "node:cluster";
import type { Logger } from "@flotilla/observability";
import { type Clock, systemClock, type TimerHandle } from "@flotilla/resilience";

/** The environment variable that tells a forked worker its index (`0` … `workers - 1`). @internal */
export const workerIndexVariable = "FLOTILLA_WORKER_INDEX";
/** The environment variable that gives a forked worker its instance id (`<base>-w<k>`). @internal */
export const workerInstanceIdVariable = "FLOTILLA_WORKER_INSTANCE_ID";

/** The IPC message a primary sends a worker to stop it gracefully. @internal */
export const workerStopMessage = "flotilla:stop";

/** When and how often the primary restarts a worker that exited on its own. */
export interface ClusterRestartPolicy {
  /** Delay before the first restart of a worker. Default 100 ms; doubled on each further exit. */
  readonly initialDelayMs: number;
  /** The longest delay. Default 10 s. */
  readonly maxDelayMs: number;
  /** A worker that listened this long before exiting restarts after `initialDelayMs` again. Default 30 s. */
  readonly resetAfterMs: number;
  /** This many exits of any workers within `windowMs` stop the cluster, exit code 1. Default 5. */
  readonly maxExits: number;
  /** Default 60 s. */
  readonly windowMs: number;
}

/** Options of {@link runCluster}. */
export interface RunClusterOptions {
  /** Workers to keep running, at least 1. */
  readonly workers: number;
  /** Worker `k` registers as `<baseInstanceId>-w<k>`, the same id after each restart. */
  readonly baseInstanceId: string;
  /** The primary's own log lines. */
  readonly logger: Logger;
  /** How long {@link ClusterPrimary.stop} waits for the workers before killing them. */
  readonly stopTimeoutMs: number;
  /** Ends the primary with the cluster's exit code, after a signal or after giving up. Default none. */
  readonly exit?: (code: number) => void;
  /** Stop gracefully on `SIGTERM` / `SIGINT`, kill the workers on a second one. Default true. */
  readonly handleSignals?: boolean;
  readonly restart?: Partial<ClusterRestartPolicy>;
  /** Timers of the restarts and the stop timeout. Default the system clock. */
  readonly clock?: Clock;
}

/** A running worker, as the primary sees it. */
export interface ClusterWorkerInfo {
  readonly index: number;
  readonly pid: number | undefined;
  readonly instanceId: string;
}

/** The handle of a cluster primary: it runs no service itself, it keeps the workers running. */
export interface ClusterPrimary {
  readonly role: "primary";
  /** The workers running now, by index; a worker waiting for its restart is left out. */
  workers(): readonly ClusterWorkerInfo[];
  /**
   * Asks every worker to stop gracefully (each: readiness 503 → deregister → linger → drain) and
   * resolves with the cluster's exit code once all have exited: 0 when every one exited 0, else 1.
   * Workers still running after `stopTimeoutMs` are killed. Idempotent.
   */
  stop(): Promise<number>;
  /** Resolves with the exit code once the cluster has stopped, by `stop()` or by giving up. */
  readonly done: Promise<number>;
}

const defaultPolicy: ClusterRestartPolicy = {
  initialDelayMs: 100,
  maxDelayMs: 10_000,
  resetAfterMs: 30_000,
  maxExits: 5,
  windowMs: 60_000,
};

interface Slot {
  readonly index: number;
  readonly instanceId: string;
  worker: Worker | undefined;
  listeningAt: number | undefined;
  /** Exits since the worker last stayed up `resetAfterMs`: the exponent of the next delay. */
  exits: number;
  restart: TimerHandle | undefined;
}

/**
 * Turns this process into the primary of a `node:cluster` of `workers` processes that share one
 * listening port (the primary accepts the connections and hands them to the workers in turn).
 * Each worker runs this same program; `runService` sees `FLOTILLA_WORKER_INDEX` and starts the
 * service as instance `<baseInstanceId>-w<k>`: its own registration, lease, readiness and drain.
 *
 * - A worker that exits while the cluster is not stopping is started again after a delay growing
 *   from `initialDelayMs` to `maxDelayMs`; `maxExits` exits within `windowMs` stop the cluster
 *   with exit code 1 and a log line saying why.
 * - `SIGTERM` / `SIGINT` (with `handleSignals`): {@link ClusterPrimary.stop}, then `exit(code)`; a
 *   second signal kills the workers and exits 1 at once.
 *
 * `runService` calls it when `workers` is above 1; call it yourself only to run a cluster of a
 * program that calls `runService` in its workers.
 */
export function runCluster(options: RunClusterOptions): ClusterPrimary {
  if (!cluster.isPrimary) throw new Error("runCluster must run in the cluster's primary process");
  const policy: ClusterRestartPolicy = { ...defaultPolicy, ...options.restart };
  const clock = options.clock ?? systemClock;
  const { logger } = options;
  const slots: Slot[] = Array.from({ length: options.workers }, (_, index) => ({
    index,
    instanceId: `${options.baseInstanceId}-w${index}`,
    worker: undefined,
    listeningAt: undefined,
    exits: 0,
    restart: undefined,
  }));
  /** Clock readings of the workers' unexpected exits within the window. */
  let recentExits: number[] = [];
  let stopping = false;
  let failed = false;
  let stopTimer: TimerHandle | undefined;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });

  const fork = (slot: Slot): void => {
    const worker = cluster.fork({
      [workerIndexVariable]: String(slot.index),
      [workerInstanceIdVariable]: slot.instanceId,
    });
    slot.worker = worker;
    slot.listeningAt = undefined;
    const pid = worker.process.pid;
    logger.info({ worker: slot.index, workerPid: pid, instanceId: slot.instanceId }, "worker started");
    worker.once("listening", (address) => {
      slot.listeningAt = clock.now();
      logger.info({ worker: slot.index, workerPid: pid, port: address.port }, "worker listening");
      if (stopping) requestStop(worker);
    });
    worker.once("exit", (code, signal) => onExit(slot, worker, code, signal));
  };

  /**
   * A worker listens for the stop message from before it starts listening on the port, so a worker
   * that has not listened yet is asked once it does (or killed by the stop timeout).
   */
  const requestStop = (worker: Worker): void => {
    // A message, not a signal: on Ctrl-C the terminal signals the workers too, and a second
    // signal would make them exit at once instead of draining.
    if (worker.isConnected()) worker.send(workerStopMessage);
    else worker.process.kill("SIGTERM");
  };

  const settleIfAllExited = (): void => {
    if (slots.some((slot) => slot.worker !== undefined)) return;
    if (stopTimer !== undefined) clock.clearTimeout(stopTimer);
    const code = failed ? 1 : 0;
    logger.info({ exitCode: code }, "cluster stopped");
    resolveDone(code);
  };

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: string | null): void => {
    if (slot.worker === worker) slot.worker = undefined;
    const fields = { worker: slot.index, workerPid: worker.process.pid, code, signal };
    if (stopping) {
      if (code === 0) logger.info(fields, "worker exited");
      else {
        failed = true;
        logger.warn(fields, "worker exited");
      }
      settleIfAllExited();
      return;
    }
    // A worker stopped on its own (a signal to its pid) is restarted like a crashed one: that is
    // how one process of the cluster is restarted at a time.
    if (code === 0) logger.info(fields, "worker exited on its own");
    else logger.warn(fields, "worker exited unexpectedly");
    const now = clock.now();
    recentExits = recentExits.filter((at) => now - at < policy.windowMs);
    recentExits.push(now);
    if (recentExits.length >= policy.maxExits) {
      logger.fatal(
        { exits: recentExits.length, windowMs: policy.windowMs },
        `giving up: ${recentExits.length} worker exits within ${policy.windowMs} ms; stopping the cluster`,
      );
      failed = true;
      void primary.stop().then((exitCode) => {
        logger.flush();
        options.exit?.(exitCode);
      });
      return;
    }
    if (slot.listeningAt !== undefined && now - slot.listeningAt >= policy.resetAfterMs) slot.exits = 0;
    const delayMs = Math.min(policy.initialDelayMs * 2 ** slot.exits, policy.maxDelayMs);
    slot.exits++;
    logger.info({ worker: slot.index, delayMs }, "restarting worker");
    slot.restart = clock.setTimeout(() => {
      slot.restart = undefined;
      if (!stopping) fork(slot);
    }, delayMs);
  };

  let stopped: Promise<number> | undefined;
  const primary: ClusterPrimary = {
    role: "primary",
    workers: () =>
      slots.flatMap((slot) =>
        slot.worker === undefined
          ? []
          : [{ index: slot.index, pid: slot.worker.process.pid, instanceId: slot.instanceId }],
      ),
    stop() {
      stopped ??= (() => {
        stopping = true;
        for (const slot of slots) {
          if (slot.restart !== undefined) clock.clearTimeout(slot.restart);
          slot.restart = undefined;
          if (slot.worker !== undefined && slot.listeningAt !== undefined) requestStop(slot.worker);
        }
        stopTimer = clock.setTimeout(() => {
          const left = slots.flatMap((slot) => (slot.worker === undefined ? [] : [slot.worker]));
          logger.error(
            { waitedMs: options.stopTimeoutMs, pids: left.map((w) => w.process.pid) },
            "workers did not stop in time; killing them",
          );
          failed = true;
          for (const worker of left) worker.process.kill("SIGKILL");
        }, options.stopTimeoutMs);
        settleIfAllExited();
        return done;
      })();
      return stopped;
    },
    done,
  };

  if (options.handleSignals ?? true) {
    const signals = ["SIGTERM", "SIGINT"] as const;
    let received = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      received++;
      if (received > 1) {
        logger.warn({ signal }, "second signal: killing the workers");
        for (const slot of slots) slot.worker?.process.kill("SIGKILL");
        logger.flush();
        options.exit?.(1);
        return;
      }
      logger.info({ signal }, "signal received: stopping the workers");
      void primary.stop().then((code) => {
        for (const s of signals) process.off(s, onSignal);
        logger.flush();
        options.exit?.(code);
      });
    };
    for (const s of signals) process.on(s, onSignal);
  }

  logger.info({ workers: options.workers, instanceId: options.baseInstanceId }, "cluster primary started");
  for (const slot of slots) fork(slot);
  return primary;
}
