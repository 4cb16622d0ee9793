import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { ConfigError, type ConfigIssue } from "@flotilla/resilience";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { type GatewayConfig, gatewayConfig } from "./gateway-config.js";

/**
 * Validates a gateway configuration; a bad one throws a `ConfigError` (`FLT_CONFIG_INVALID`)
 * listing every problem with its path (`routes.2.timeout: …`).
 */
export function parseGatewayConfig(input: unknown): GatewayConfig {
  const result = gatewayConfig.safeParse(input);
  if (!result.success) throw new ConfigError(zodIssues(result.error));
  return result.data;
}

/** Reads and validates a configuration file: JSON (`.json`) or YAML (`.yaml`, `.yml`). */
export async function loadGatewayConfig(file: string): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new ConfigError([{ path: "", message: `cannot read ${file}: ${(error as Error).message}` }]);
  }
  let data: unknown;
  try {
    data = extname(file) === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError([
      {
        path: "",
        message: `${file} is not valid ${extname(file) === ".json" ? "JSON" : "YAML"}: ${(error as Error).message}`,
      },
    ]);
  }
  return parseGatewayConfig(data);
}

/** zod issues as configuration issues with dotted paths. */
export function zodIssues(error: z.ZodError): ConfigIssue[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join("."), message: issue.message }));
}
