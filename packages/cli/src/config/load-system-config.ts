import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, extname, isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { CliError, CliErrorCode } from "./cli-error.js";
import { type ParsedSystemConfig, systemConfigSchema } from "./system-config.js";

/** The file names searched for, in this order, in each directory from the cwd upward. */
export const configFileNames = ["flotilla.config.ts", "flotilla.config.yaml", "flotilla.config.yml"] as const;

/** A validated system description whose paths are absolute. */
export interface LoadedSystemConfig extends ParsedSystemConfig {
  /** The absolute path of the file it was read from. */
  readonly file: string;
}

/**
 * Finds the system description: `file` when given (relative to `cwd`), else the first of
 * {@link configFileNames} in `cwd` or the nearest directory above it. Throws
 * `FLT_CLI_CONFIG_INVALID` when there is none.
 */
export function findConfigFile(cwd: string, file?: string): string {
  if (file !== undefined) {
    const path = resolve(cwd, file);
    if (!existsSync(path))
      throw new CliError(CliErrorCode.ConfigInvalid, `config file ${path} does not exist`);
    return path;
  }
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    for (const name of configFileNames) {
      const path = join(dir, name);
      if (existsSync(path)) return path;
    }
    if (dirname(dir) === dir) break;
  }
  throw new CliError(
    CliErrorCode.ConfigInvalid,
    `no ${configFileNames.join(", ")} in ${resolve(cwd)} or any directory above it (or pass --config <file>)`,
  );
}

/**
 * Validates a raw system description, throwing `FLT_CLI_CONFIG_INVALID` with one line per problem,
 * each naming its path (`services.orders.instances: Too small: expected number to be >=1`).
 */
export function parseSystemConfig(raw: unknown, source = "system config"): ParsedSystemConfig {
  const result = systemConfigSchema.safeParse(raw);
  if (!result.success) {
    throw new CliError(
      CliErrorCode.ConfigInvalid,
      `${source} is invalid:\n${formatIssues(result.error.issues)}`,
    );
  }
  return result.data;
}

function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String).join(".");
      return `  ${path === "" ? "(root)" : path}: ${issue.message}`;
    })
    .join("\n");
}

/**
 * Reads, validates and resolves a system description: a `.ts`/`.js`/`.mjs` module's default export
 * (imported, so Node's type stripping runs TypeScript), or a YAML file. `stateDir`, each service's
 * `main` and `gateway.config` become absolute, relative to the config file's directory.
 */
export async function loadSystemConfig(file: string): Promise<LoadedSystemConfig> {
  const raw = await readRaw(file);
  const parsed = parseSystemConfig(raw, file);
  const base = dirname(file);
  const abs = (path: string) => (isAbsolute(path) ? path : resolve(base, path));
  const services: ParsedSystemConfig["services"] = {};
  for (const [name, service] of Object.entries(parsed.services)) {
    services[name] = { ...service, main: abs(service.main) };
  }
  return {
    ...parsed,
    file,
    stateDir: abs(parsed.stateDir),
    services,
    ...(parsed.gateway === undefined
      ? {}
      : { gateway: { ...parsed.gateway, config: abs(parsed.gateway.config) } }),
  };
}

async function readRaw(file: string): Promise<unknown> {
  const ext = extname(file);
  if (ext === ".yaml" || ext === ".yml") {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (error) {
      throw new CliError(CliErrorCode.ConfigInvalid, `cannot read ${file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    try {
      return parseYaml(text) as unknown;
    } catch (error) {
      throw new CliError(
        CliErrorCode.ConfigInvalid,
        `${file} is not valid YAML: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
  if (ext === ".ts" || ext === ".mts" || ext === ".js" || ext === ".mjs") {
    let module: { default?: unknown };
    try {
      module = (await import(pathToFileURL(file).href)) as { default?: unknown };
    } catch (error) {
      throw new CliError(CliErrorCode.ConfigInvalid, `cannot load ${file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (module.default === undefined) {
      throw new CliError(
        CliErrorCode.ConfigInvalid,
        `${file} has no default export (export default defineSystem({…}))`,
      );
    }
    return module.default;
  }
  throw new CliError(
    CliErrorCode.ConfigInvalid,
    `${file}: unsupported extension ${JSON.stringify(ext)} (use .ts or .yaml)`,
  );
}
