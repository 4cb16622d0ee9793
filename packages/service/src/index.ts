export type { DependencyClient } from "./client/dependency-client.js";
export type {
  BreakerConfig,
  BulkheadConfig,
  DependencyPolicies,
  FallbackConfig,
  RateLimitConfig,
  RetryConfig,
  RoutePolicies,
} from "./client/dependency-policies.js";
export type { FallbackQueue, QueuedCall } from "./client/fallback-queue.js";
export type { TracePropagation } from "./client/http-transport.js";
export {
  isRemoteServiceError,
  isServiceBadResponseError,
  isServiceCallQueuedError,
  RemoteServiceError,
  type SchemaIssue,
  ServiceBadResponseError,
  ServiceCallQueuedError,
  ServiceClientErrorCode,
  ServiceClientsClosedError,
  ServiceConnectionError,
  ServiceInvalidCallError,
  ServiceNoInstanceError,
} from "./client/service-client-error.js";
export {
  type ClientsOf,
  type DependencyConfig,
  ServiceClients,
  type ServiceClientsOptions,
  serviceClients,
  type UntypedCall,
} from "./client/service-clients.js";
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
export {
  type ClientsFactory,
  type ClientsRequest,
  defaultClientsFactory,
  type ServiceClientsHandle,
} from "./lifecycle/clients-factory.js";
export {
  type DatabaseConnector,
  type DatabaseConnectRequest,
  defaultDatabaseConnector,
  type ServiceDatabaseHandle,
} from "./lifecycle/database-connector.js";
export { type LoadServiceConfigOptions, loadServiceConfig } from "./lifecycle/load-service-config.js";
export {
  type ClusterPrimary,
  type ClusterRestartPolicy,
  type ClusterWorkerInfo,
  type RunClusterOptions,
  runCluster,
} from "./lifecycle/run-cluster.js";
export { type RunServiceOptions, runService } from "./lifecycle/run-service.js";
export {
  parseServiceConfig,
  type ServiceConfig,
  type ServiceConfigInput,
  serviceConfig,
} from "./lifecycle/service-config.js";
export { ServiceStartError, type StartPhase } from "./lifecycle/service-start-error.js";
export { type RunningService, type StartServiceOptions, startService } from "./lifecycle/start-service.js";
export {
  type AnyService,
  defineService,
  type Handler,
  type Handlers,
  reservedPaths,
  type Service,
  type ServiceDatabaseDefinition,
  type ServiceDefinition,
  type ServiceHealth,
} from "./server/define-service.js";
export { downstreamProblem } from "./server/downstream-problem.js";
export type {
  Dependencies,
  HandlerClients,
  HandlerContext,
  HandlerDatabase,
  QueryRow,
} from "./server/handler-context.js";
export { idempotentReplayedHeader } from "./server/idempotency/idempotency-step.js";
export type {
  IdempotencyBegin,
  IdempotencyStore,
  IdempotencyTimes,
  StoredResponse,
} from "./server/idempotency/idempotency-store.js";
export {
  MemoryIdempotencyStore,
  type MemoryIdempotencyStoreOptions,
  memoryIdempotencyStore,
} from "./server/idempotency/memory-idempotency-store.js";
export {
  PostgresIdempotencyStore,
  type PostgresIdempotencyStoreOptions,
  postgresIdempotencyStore,
} from "./server/idempotency/postgres-idempotency-store.js";
export {
  fillablePositions,
  type PipelineNext,
  type PipelinePosition,
  type PipelineRequest,
  type PipelineStep,
  pipelinePositions,
} from "./server/pipeline-step.js";
export { type RateLimitStepOptions, rateLimitStep } from "./server/rate-limit-step.js";
export { type PipelineLink, RequestPipeline, resolvePipeline } from "./server/request-pipeline.js";
export { isRouteIdempotent } from "./server/route-idempotency.js";
export {
  isServiceError,
  type ProblemIssue,
  problem,
  problemType,
  ServiceError,
  ServiceErrorCode,
  type ServiceErrorInit,
} from "./server/service-error.js";
export { serviceOpenApi } from "./server/service-openapi.js";
export { jsonContentType, problemContentType, type ServiceResponse } from "./server/service-response.js";
export { type ServiceAddress, ServiceServer, serviceServer } from "./server/service-server.js";
export {
  parseServiceServerOptions,
  type ResolvedServiceServerOptions,
  type ServiceIdempotencyOptions,
  type ServiceLimits,
  type ServiceServerOptions,
} from "./server/service-server-options.js";
