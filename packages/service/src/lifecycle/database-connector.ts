import type { HealthCheck, Logger } from "@flotilla/observability";
import { database } from "../database/database.js";
import { provisionDatabase } from "../database/provision-database.js";
import type { AnyService } from "../server/define-service.js";
import type { HandlerDatabase } from "../server/handler-context.js";
import type { ServiceConfig } from "./service-config.js";

/** The service's database once connected and migrated: what the lifecycle needs of it. */
export interface ServiceDatabaseHandle {
  /** What handlers get as `ctx.db`, and what the PostgreSQL idempotency store uses. */
  readonly db: HandlerDatabase;
  /** Readiness check (`SELECT 1`). */
  readonly check: HealthCheck;
  close(): Promise<void>;
}

/** What a {@link DatabaseConnector} is given. */
export interface DatabaseConnectRequest {
  readonly service: AnyService;
  readonly config: ServiceConfig["database"];
  /** The service's migrations folder, if it declares one. */
  readonly migrations: string | URL | undefined;
  readonly logger: Logger;
}

/** Connects a service to its database and applies its migrations: start's "connect DB → migrate". */
export type DatabaseConnector = (request: DatabaseConnectRequest) => Promise<ServiceDatabaseHandle>;

/**
 * The default {@link DatabaseConnector}: with `database.url`, connects as that role; without it,
 * provisions the service's own database and role through `database.adminUrl` (default the local
 * `postgres` superuser) first. Then applies the migrations (under an advisory lock, so instances
 * starting together apply each once) and hands out the pool.
 */
export const defaultDatabaseConnector: DatabaseConnector = async ({
  service,
  config,
  migrations,
  logger,
}) => {
  const url =
    config.url ??
    (
      await provisionDatabase({
        service: service.name,
        ...(config.adminUrl === undefined ? {} : { adminUrl: config.adminUrl }),
        logger,
      })
    ).url;
  const db = database({
    url,
    max: config.poolSize,
    logger,
    ...(config.statementTimeout === undefined ? {} : { statementTimeout: config.statementTimeout }),
  });
  try {
    if (migrations !== undefined) await db.migrate({ directory: migrations, logger });
  } catch (error) {
    await db.close();
    throw error;
  }
  return { db, check: db.health(), close: () => db.close() };
};
