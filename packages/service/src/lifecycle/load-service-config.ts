import { readFile } from "node:fs/promises";
import { ConfigError } from "@flotilla/resilience";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import {
  type ConfigSources,
  parseServiceConfig,
  type ServiceConfig,
  serviceConfig,
} from "./service-config.js";

/** How an environment variable's text becomes a value. */
type LeafKind = "string" | "number" | "boolean" | "list" | "number-or-string" | "list-or-string";

/** A leaf of the config schema an environment variable can set. */
export interface EnvLeaf {
  /** `limits.bodyLimit` */
  readonly path: readonly string[];
  /** `FLOTILLA_LIMITS_BODY_LIMIT` */
  readonly name: string;
  readonly kind: LeafKind;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  for (;;) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodNullable)
      current = current.unwrap() as z.ZodType;
    else if (current instanceof z.ZodDefault || current instanceof z.ZodPrefault)
      current = current.unwrap() as z.ZodType;
    else if (current instanceof z.ZodPipe) current = current.in as z.ZodType;
    else return current;
  }
}

function kindOf(schema: z.ZodType): LeafKind {
  if (schema instanceof z.ZodNumber) return "number";
  if (schema instanceof z.ZodBoolean) return "boolean";
  if (schema instanceof z.ZodArray) return "list";
  if (schema instanceof z.ZodUnion) {
    const kinds = (schema.options as z.ZodType[]).map((option) => kindOf(unwrap(option)));
    if (kinds.includes("list")) return "list-or-string";
    if (kinds.includes("number")) return "number-or-string";
  }
  return "string";
}

const snake = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();

function collect(schema: z.ZodType, path: string[], out: EnvLeaf[]): void {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    for (const [key, child] of Object.entries(inner.shape as Record<string, z.ZodType>)) {
      collect(child, [...path, key], out);
    }
    return;
  }
  // Records (dependencies) have names only the file knows; they come from the file alone.
  if (inner instanceof z.ZodRecord) return;
  out.push({ path, name: `FLOTILLA_${path.map(snake).join("_")}`, kind: kindOf(inner) });
}

/** Every setting an environment variable can override, derived from {@link serviceConfig}. */
export const envLeaves: readonly EnvLeaf[] = (() => {
  const out: EnvLeaf[] = [];
  collect(serviceConfig, [], out);
  return out;
})();

function fromText(text: string, kind: LeafKind): unknown {
  const trimmed = text.trim();
  switch (kind) {
    case "number":
      return trimmed !== "" && Number.isFinite(Number(trimmed)) ? Number(trimmed) : text;
    case "boolean":
      if (/^(true|1|yes|on)$/i.test(trimmed)) return true;
      if (/^(false|0|no|off)$/i.test(trimmed)) return false;
      return text;
    case "list":
      return trimmed === "" ? [] : trimmed.split(",").map((s) => s.trim());
    case "list-or-string":
      return trimmed.includes(",") ? trimmed.split(",").map((s) => s.trim()) : trimmed;
    case "number-or-string":
      return /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : trimmed;
    default:
      return text;
  }
}

/**
 * Applies `FLOTILLA_<PATH>` environment variables over `base` (`FLOTILLA_PORT`,
 * `FLOTILLA_REGISTRY_URL`, `FLOTILLA_DATABASE_ADMIN_URL`, `FLOTILLA_LIMITS_MAX_TIMEOUT`); returns
 * the merged object and, for each path set from the environment, the variable's name.
 */
export function applyEnvOverrides(
  base: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
): { readonly config: Record<string, unknown>; readonly sources: ConfigSources } {
  const config = structuredClone(base);
  const sources = new Map<string, string>();
  for (const leaf of envLeaves) {
    const text = env[leaf.name];
    if (text === undefined) continue;
    let node = config;
    for (const key of leaf.path.slice(0, -1)) {
      const next = node[key];
      if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[leaf.path.at(-1)!] = fromText(text, leaf.kind);
    sources.set(leaf.path.join("."), leaf.name);
  }
  return { config, sources };
}

/** Where {@link loadServiceConfig} reads from. */
export interface LoadServiceConfigOptions {
  /** A JSON file; default `FLOTILLA_CONFIG` from `env`, else none. YAML is not read yet. */
  readonly file?: string | URL | undefined;
  /** Environment variables. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Values under the file and the environment (a test's or the CLI's). */
  readonly defaults?: Record<string, unknown>;
}

/**
 * Reads a service's configuration: `defaults`, then the JSON file, then `FLOTILLA_*` environment
 * variables, validated with {@link serviceConfig}. Throws a `ConfigError` listing every bad value
 * by path (and variable), or naming the file when it cannot be read or parsed.
 */
export async function loadServiceConfig(options: LoadServiceConfigOptions = {}): Promise<ServiceConfig> {
  const env = options.env ?? process.env;
  const file = options.file ?? env.FLOTILLA_CONFIG;
  let fromFile: Record<string, unknown> = {};
  if (file !== undefined && file !== "") {
    const name = String(file);
    const yaml = /\.ya?ml$/i.test(name);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (error) {
      throw new ConfigError([
        { path: "(file)", message: `cannot read ${name}: ${(error as Error).message}` },
      ]);
    }
    try {
      fromFile = (yaml ? parseYaml(text) : JSON.parse(text)) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError([
        {
          path: "(file)",
          message: `${name} is not valid ${yaml ? "YAML" : "JSON"}: ${(error as Error).message}`,
        },
      ]);
    }
    if (typeof fromFile !== "object" || fromFile === null || Array.isArray(fromFile)) {
      throw new ConfigError([{ path: "(file)", message: `${name} must hold an object (a mapping)` }]);
    }
  }
  const merged = deepMerge(options.defaults ?? {}, fromFile);
  const { config, sources } = applyEnvOverrides(merged, env);
  return parseServiceConfig(config, sources);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isPlain(current) && isPlain(value) ? deepMerge(current, value) : value;
  }
  return out;
}

function isPlain(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
