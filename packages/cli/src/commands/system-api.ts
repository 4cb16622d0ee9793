import { CliError, CliErrorCode } from "../config/cli-error.js";

/** A service instance as the registry lists it. */
export interface RegisteredInstance {
  readonly service: string;
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly status: string;
  readonly version: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** An HTTP answer read whole. */
export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

/**
 * Sends one request to the running system and reads the answer whole. Throws
 * `FLT_CLI_REQUEST_FAILED` naming the URL when it cannot connect or times out.
 */
export async function request(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  try {
    const res = await fetch(url, {
      method: init.method ?? "GET",
      ...(init.body === undefined ? {} : { body: init.body }),
      headers: init.headers ?? {},
      signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
    });
    return { status: res.status, contentType: res.headers.get("content-type") ?? "", text: await res.text() };
  } catch (error) {
    throw new CliError(
      CliErrorCode.RequestFailed,
      `${init.method ?? "GET"} ${url} failed: ${describe(error)}`,
      {
        cause: error,
      },
    );
  }
}

/** {@link request} expecting a 2xx JSON answer; anything else throws `FLT_CLI_REQUEST_FAILED` with the problem's detail. */
export async function requestJson<T>(
  url: string,
  init: { method?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<T> {
  const answer = await request(url, {
    ...(init.method === undefined ? {} : { method: init.method }),
    ...(init.body === undefined
      ? {}
      : { body: JSON.stringify(init.body), headers: { "content-type": "application/json" } }),
    ...(init.timeoutMs === undefined ? {} : { timeoutMs: init.timeoutMs }),
  });
  if (answer.status < 200 || answer.status > 299) {
    throw new CliError(
      CliErrorCode.RequestFailed,
      `${init.method ?? "GET"} ${url} answered ${answer.status}${problemDetail(answer.text)}`,
    );
  }
  try {
    return JSON.parse(answer.text) as T;
  } catch (error) {
    throw new CliError(CliErrorCode.RequestFailed, `${url} did not answer JSON`, { cause: error });
  }
}

function problemDetail(text: string): string {
  try {
    const body = JSON.parse(text) as { detail?: unknown; title?: unknown };
    const detail =
      typeof body.detail === "string" ? body.detail : typeof body.title === "string" ? body.title : "";
    return detail === "" ? "" : `: ${detail}`;
  } catch {
    return text === "" ? "" : `: ${text.slice(0, 200)}`;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof Error && cause.message !== "") return `${error.message} (${cause.message})`;
    return error.message;
  }
  return String(error);
}

/** Every instance of every service in the registry, in any state, sorted by service and id. */
export async function listInstances(registryUrl: string): Promise<RegisteredInstance[]> {
  const { services } = await requestJson<{ services: { name: string }[] }>(`${registryUrl}/v1/services`);
  const lists = await Promise.all(
    services.map(async ({ name }) => {
      const { instances } = await requestJson<{ instances: RegisteredInstance[] }>(
        `${registryUrl}/v1/services/${encodeURIComponent(name)}?status=any`,
      );
      return instances;
    }),
  );
  return lists.flat().sort((a, b) => a.service.localeCompare(b.service) || a.id.localeCompare(b.id));
}

/** The base URL of an instance. */
export function instanceUrl(instance: RegisteredInstance): string {
  const host = instance.address.includes(":") ? `[${instance.address}]` : instance.address;
  return `http://${host}:${instance.port}`;
}

/**
 * The instances that serve an admin API under `path` (they answer `GET <path>` with 200), at most
 * one per service (the first passing one that answers), since every instance of a service shares
 * its store.
 */
export async function adminEndpoints(registryUrl: string, path: string): Promise<RegisteredInstance[]> {
  const instances = (await listInstances(registryUrl)).filter((i) => i.status === "passing");
  const probes = await Promise.all(
    instances.map(async (instance) => {
      try {
        const res = await fetch(`${instanceUrl(instance)}${path}?limit=1`, {
          signal: AbortSignal.timeout(3_000),
        });
        await res.body?.cancel();
        return res.status === 200 ? instance : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  const byService = new Map<string, RegisteredInstance>();
  for (const instance of probes) {
    if (instance !== undefined && !byService.has(instance.service)) byService.set(instance.service, instance);
  }
  return [...byService.values()];
}

/** Formats rows as aligned columns (the first row is the header). */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  "),
    )
    .join("\n");
}
