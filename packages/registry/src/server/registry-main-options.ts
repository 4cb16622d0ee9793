import { parseArgs } from "node:util";
import { ConfigReader } from "@flotilla/resilience";

/** What `registry-main` runs with, from its flags and environment. */
export interface RegistryMainOptions {
  readonly port: number;
  readonly host: string;
  /** Durable embedded store in this directory; neither this nor `etcd`: in memory only. */
  readonly dataDir: string | undefined;
  /** etcd client URLs; the registry then shares its state with every server on that cluster. */
  readonly etcd: readonly string[] | undefined;
  /** Self-preservation's share threshold, or `false` (`off`) to always expire lapsed leases. */
  readonly selfPreservationThreshold: number | false;
  readonly help: boolean;
}

/** The usage text of `registry-main`, named as it is run from the build. */
export const registryMainUsage = `usage: node packages/registry/dist/server/registry-main.js [options]

  --port <n>                         port to listen on (FLOTILLA_REGISTRY_PORT, default 8500)
  --host <addr>                      address to bind (FLOTILLA_REGISTRY_HOST, default 127.0.0.1)
  --data-dir <dir>                   durable embedded store in <dir> (FLOTILLA_REGISTRY_DATA_DIR)
  --etcd <url>[,<url>…]              store in etcd instead (FLOTILLA_REGISTRY_ETCD)
  --self-preservation-threshold <x>  share of leases lapsing within 30 s that suspends expiry,
                                     in (0, 1], or "off" (FLOTILLA_REGISTRY_SELF_PRESERVATION_THRESHOLD,
                                     default 0.5)
  --help                             this text

Without --data-dir or --etcd the registry keeps its state in memory only.`;

/**
 * Reads `registry-main`'s flags (which win) and environment; throws a `ConfigError` naming each
 * bad one (`--port`, `FLOTILLA_REGISTRY_ETCD`) with the reason.
 */
export function parseRegistryMainOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): RegistryMainOptions {
  const r = new ConfigReader();
  let values: Record<string, string | boolean | undefined> = {};
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        port: { type: "string" },
        host: { type: "string" },
        "data-dir": { type: "string" },
        etcd: { type: "string" },
        "self-preservation-threshold": { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    r.issue("argv", (error as Error).message);
  }
  const pick = (flag: string, variable: string): { value: string | undefined; at: string } => {
    const fromFlag = values[flag];
    if (typeof fromFlag === "string") return { value: fromFlag, at: `--${flag}` };
    const fromEnv = env[variable];
    return { value: fromEnv === "" ? undefined : fromEnv, at: variable };
  };

  const portArg = pick("port", "FLOTILLA_REGISTRY_PORT");
  let port = 8500;
  if (portArg.value !== undefined) {
    port = /^\d{1,5}$/.test(portArg.value) ? Number(portArg.value) : Number.NaN;
    if (!(port >= 0 && port <= 65535)) {
      r.issue(portArg.at, `expected a port from 0 to 65535, got "${portArg.value}"`);
      port = 8500;
    }
  }
  const host = pick("host", "FLOTILLA_REGISTRY_HOST").value ?? "127.0.0.1";
  const dataDir = pick("data-dir", "FLOTILLA_REGISTRY_DATA_DIR");
  const etcdArg = pick("etcd", "FLOTILLA_REGISTRY_ETCD");
  let etcd: string[] | undefined;
  if (etcdArg.value !== undefined) {
    etcd = etcdArg.value
      .split(",")
      .map((u) => u.trim())
      .filter((u) => u !== "");
    const bad = etcd.filter((u) => URL.parse(u) === null);
    if (etcd.length === 0 || bad.length > 0) {
      r.issue(
        etcdArg.at,
        `expected comma-separated URLs such as http://127.0.0.1:2379, got "${etcdArg.value}"`,
      );
    }
  }
  if (dataDir.value !== undefined && etcd !== undefined) {
    r.issue(dataDir.at, `choose one store: ${dataDir.at} or ${etcdArg.at}`);
  }
  const thresholdArg = pick("self-preservation-threshold", "FLOTILLA_REGISTRY_SELF_PRESERVATION_THRESHOLD");
  let selfPreservationThreshold: number | false = 0.5;
  if (thresholdArg.value === "off") selfPreservationThreshold = false;
  else if (thresholdArg.value !== undefined) {
    const n = Number(thresholdArg.value);
    if (thresholdArg.value.trim() === "" || !(n > 0 && n <= 1)) {
      r.issue(thresholdArg.at, `expected a share in (0, 1] or "off", got "${thresholdArg.value}"`);
    } else {
      selfPreservationThreshold = n;
    }
  }
  r.throwIfInvalid();
  return {
    port,
    host,
    dataDir: dataDir.value,
    etcd,
    selfPreservationThreshold,
    help: values.help === true,
  };
}
