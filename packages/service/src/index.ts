export {
  currentRequestScope,
  type RequestScope,
  runInRequestScope,
  scopeHeaders,
} from "./context/request-scope.js";
export type { CallOptions, ClientMethod, ClientOf } from "./contract/client-types.js";
export { type AnyContract, type Contract, defineContract } from "./contract/define-contract.js";
export {
  type AnyRoute,
  type HandlerInput,
  type RouteDefinition,
  type RouteInput,
  type RouteMethod,
  type RouteOutput,
  type RouteResult,
  route,
} from "./contract/route.js";
export { advisoryLockKey } from "./database/advisory-lock-key.js";
export type { ClientSource } from "./database/client-source.js";
export { Database, type DatabaseOptions, database } from "./database/database.js";
export {
  DatabaseConflictError,
  DatabaseConnectError,
  DatabaseError,
  DatabaseErrorCode,
  DatabaseNameError,
  DatabasePermissionError,
  DatabaseProvisionError,
  isDatabaseError,
} from "./database/database-error.js";
export type { DatabaseLogger } from "./database/database-logger.js";
export { type MigrateOptions, type MigrateResult, migrate, migrationLockKey } from "./database/migrate.js";
export {
  isMigrationError,
  MigrationChecksumError,
  MigrationError,
  MigrationErrorCode,
  MigrationFailedError,
  MigrationMissingError,
  MigrationOrderError,
  MigrationSourceError,
} from "./database/migration-error.js";
export {
  type MigrationFile,
  migrationChecksum,
  migrationFilePattern,
  readMigrations,
} from "./database/migration-file.js";
export {
  defaultAdminUrl,
  type ProvisionDatabaseOptions,
  type ProvisionedDatabase,
  provisionDatabase,
  provisionLockKey,
} from "./database/provision-database.js";
export { serviceDatabaseName } from "./database/service-database-name.js";
export { type ServicePoolOptions, servicePool } from "./database/service-pool.js";
export {
  type IsolationLevel,
  isRetryableTransactionError,
  retryableTransactionCodes,
  type TransactionOptions,
  withTransaction,
} from "./database/with-transaction.js";
