import { durationSchema } from "@flotilla/registry";
import { z } from "zod";
import { GatewayError, GatewayErrorCode } from "../chain/gateway-error.js";
import type { GatewayLogger } from "../chain/gateway-logger.js";
import type { AdminSource } from "./admin-source.js";

/** The shortest admin token accepted: shorter ones are guessable. */
export const minAdminTokenLength = 16;

/** RFC 6750 `b64token`: what fits in `Authorization: Bearer …` as is. */
const bearerToken = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The admin server's settings as the gateway configuration carries them (zod 4, strict): where
 * it listens, the token it requires and how long `close()` lets requests in progress finish.
 */
export const adminServerConfigSchema = z
  .object({
    /** Interface to listen on. Default `127.0.0.1`: the admin API is not for the public network. */
    host: z.string().min(1).default("127.0.0.1"),
    /** Port to listen on; 0 picks a free one. */
    port: z.number().int().min(0).max(65_535),
    /** The bearer token every route but `GET /health` requires, at least 16 characters. */
    adminToken: z
      .string()
      .min(minAdminTokenLength, `must be at least ${minAdminTokenLength} characters`)
      .regex(bearerToken, "must be a bearer token: letters, digits and -._~+/ with optional trailing ="),
    /** How long `close()` waits for requests in progress before cutting their connections. Default `"5s"`. */
    closeGrace: durationSchema.default(5_000),
  })
  .strict();

/** The admin settings as written in configuration (durations as `"5s"` or milliseconds). */
export type AdminServerConfig = z.input<typeof adminServerConfigSchema>;

/** Options of {@link adminServer}: the settings plus what the server reads from. */
export interface AdminServerOptions extends AdminServerConfig {
  /** The running gateway. */
  readonly source: AdminSource;
  /** The Prometheus exposition text served at `GET /metrics`. */
  readonly metrics: () => Promise<string>;
  /** The content type of {@link metrics}' text. Default Prometheus text format 0.0.4. */
  readonly metricsContentType?: string;
  /** Default: logs nothing. */
  readonly logger?: GatewayLogger;
}

/** {@link AdminServerOptions} validated, durations in milliseconds. */
export interface ResolvedAdminServerOptions {
  readonly host: string;
  readonly port: number;
  readonly adminToken: string;
  readonly closeGraceMs: number;
  readonly source: AdminSource;
  readonly metrics: () => Promise<string>;
  readonly metricsContentType: string;
  readonly logger: GatewayLogger | undefined;
}

/** The content type of Prometheus' text exposition format. */
export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

/**
 * Validates `options`; throws a {@link GatewayError} `FLT_GATEWAY_CONFIG_INVALID` naming each bad
 * setting (`admin.adminToken: must be at least 16 characters`), never echoing the token.
 */
export function parseAdminServerOptions(options: AdminServerOptions): ResolvedAdminServerOptions {
  const { source, metrics, metricsContentType, logger, ...config } = options;
  const parsed = adminServerConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(
      (issue) => `admin.${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
    throw new GatewayError(
      GatewayErrorCode.ConfigInvalid,
      `invalid admin server options: ${issues.join("; ")}`,
    );
  }
  if (typeof source !== "object" || source === null) {
    throw new GatewayError(
      GatewayErrorCode.ConfigInvalid,
      "invalid admin server options: admin.source is required",
    );
  }
  if (typeof metrics !== "function") {
    throw new GatewayError(
      GatewayErrorCode.ConfigInvalid,
      "invalid admin server options: admin.metrics must be a function",
    );
  }
  return {
    host: parsed.data.host,
    port: parsed.data.port,
    adminToken: parsed.data.adminToken,
    closeGraceMs: parsed.data.closeGrace,
    source,
    metrics,
    metricsContentType: metricsContentType ?? prometheusContentType,
    logger,
  };
}
