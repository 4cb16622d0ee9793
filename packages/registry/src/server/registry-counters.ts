/**
 * The registry server's running totals, plain numbers bumped on hot paths (a heartbeat costs one
 * increment) and read by the Prometheus exporter at scrape time.
 */
export class RegistryCounters {
  /** Lease renewals answered 200. */
  heartbeats = 0;
  /** Registrations accepted. */
  registrations = 0;
  /** Instances whose lease lapsed and that the server marked critical (or removed). */
  leaseExpirations = 0;
  /** Completed http/tcp check runs by `<type> <result>`. */
  readonly checkRuns = new Map<string, number>();

  /** Counts one check run of `type` with `result` (passing, warning, critical). */
  checkRun(type: string, result: string): void {
    const key = `${type} ${result}`;
    this.checkRuns.set(key, (this.checkRuns.get(key) ?? 0) + 1);
  }
}
