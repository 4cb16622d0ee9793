export type { Balancer, CallResult, PickContext } from "./balancer/balancer.js";
export type { RandomOption } from "./balancer/balancer-options.js";
export {
  type BalancerAlgorithm,
  type BalancerConfig,
  balancerAlgorithms,
  createBalancer,
  parseBalancerConfig,
  type ZoneAwareConfig,
} from "./balancer/create-balancer.js";
export { hashString } from "./balancer/hash-string.js";
export { LeastRequestBalancer, type LeastRequestOptions, leastRequest } from "./balancer/least-request.js";
export { MaglevBalancer, type MaglevOptions, maglev } from "./balancer/maglev.js";
export { isFailedCall, PeakEwmaBalancer, type PeakEwmaOptions, peakEwma } from "./balancer/peak-ewma.js";
export { RingHashBalancer, type RingHashOptions, ringHash } from "./balancer/ring-hash.js";
export { RoundRobinBalancer, type RoundRobinOptions, roundRobin } from "./balancer/round-robin.js";
export { type RandomSource, seededRandom } from "./balancer/seeded-random.js";
export {
  WeightedRandomBalancer,
  type WeightedRandomOptions,
  weightedRandom,
} from "./balancer/weighted-random.js";
export {
  WeightedRoundRobinBalancer,
  type WeightedRoundRobinOptions,
  weightedRoundRobin,
} from "./balancer/weighted-round-robin.js";
export { ZoneAwareBalancer, type ZoneAwareOptions, zoneAware } from "./balancer/zone-aware.js";
export type { ClientLogger } from "./client/client-logger.js";
export {
  type CallReport,
  Discovery,
  type DiscoveryOptions,
  discovery,
  type InstanceSource,
} from "./client/discovery.js";
export {
  DiscoveryCache,
  type DiscoveryCacheOptions,
  discoveryCache,
  type Staleness,
} from "./client/discovery-cache.js";
export type {
  LeaseKeeperCommonOptions,
  RegistrationApi,
  RegistrationState,
  RegistrationStateChange,
} from "./client/lease-keeper.js";
export type {
  BlockingOptions,
  CallOptions,
  InstanceFilters,
  InstancesDelta,
  InstancesQuery,
  InstancesResult,
  RegistryApi,
} from "./client/registry-api.js";
export {
  type InstanceStreamHandlers,
  type KvDeleteResult,
  type KvEntry,
  type KvGetResult,
  type KvListResult,
  type KvPutResult,
  type KvSelector,
  type KvWriteOptions,
  RegistryClient,
  type RegistryClientOptions,
  type RegistryHealth,
  registryClient,
  type ServiceSummary,
  type ServicesResult,
  type StreamEnd,
  type StreamHandlers,
} from "./client/registry-client.js";
export {
  isRegistryClientClosedError,
  RegistryClientClosedError,
  registryClientClosedCode,
} from "./client/registry-client-closed-error.js";
export {
  SelfRegistration,
  type SelfRegistrationOptions,
  selfRegistration,
} from "./client/self-registration.js";
export { type SseEvent, SseParser } from "./client/sse-parser.js";
export {
  ThirdPartyRegistration,
  type ThirdPartyRegistrationOptions,
  thirdPartyRegistration,
} from "./client/third-party-registration.js";
export { durationSchema } from "./duration-schema.js";
export {
  HealthChecker,
  type HealthCheckerStats,
  type HealthCheckTarget,
  healthChecker,
} from "./health/health-checker.js";
export {
  type HealthCheckerOptions,
  healthCheckerDefaults,
  parseHealthCheckerOptions,
  type ResolvedHealthCheckerOptions,
} from "./health/health-checker-options.js";
export {
  type Probe,
  type ProbeResult,
  SystemProbe,
  type SystemProbeOptions,
  systemProbe,
} from "./health/probe.js";
export {
  type ActiveCheck,
  type CheckDefaults,
  type CheckKind,
  checkDefaults,
  maxCheckIntervalMs,
  minCheckIntervalMs,
  type ResolvedCheck,
  type ResolvedHttpCheck,
  type ResolvedTcpCheck,
  type ResolvedTtlCheck,
  resolveChecks,
} from "./health/resolve-checks.js";
export {
  SelfPreservation,
  type SelfPreservationOptions,
  type SelfPreservationStats,
  selfPreservation,
} from "./health/self-preservation.js";
export { type ServiceInstance, type ServiceInstanceInit, serviceInstance } from "./instance.js";
export {
  OutlierDetector,
  type OutlierDetectorSnapshot,
  outlierDetector,
} from "./outlier/outlier-detector.js";
export {
  type OutlierDetectorOptions,
  outlierDetectorDefaults,
  parseOutlierDetectorOptions,
  type ResolvedOutlierDetectorOptions,
} from "./outlier/outlier-detector-options.js";
export type {
  OutlierEjectedEvent,
  OutlierEjectionReason,
  OutlierEjectionSkippedEvent,
  OutlierEvent,
  OutlierReturnedEvent,
} from "./outlier/outlier-event.js";
export { OutlierOutcome } from "./outlier/outlier-outcome.js";
export type {
  CheckDefinition,
  CheckStatus,
  HealthStatus,
  HttpCheckDefinition,
  InstanceRecord,
  RegistrationRequest,
  RegistrationResponse,
  TcpCheckDefinition,
  TtlCheckDefinition,
} from "./registration.js";
export {
  type ParsedRegistration,
  parseRegistrationRequest,
  registrationLimits,
} from "./registration-schema.js";
export {
  isRegistryError,
  RegistryError,
  RegistryErrorCode,
  RegistryInvalidRequestError,
  RegistryUnknownLeaseError,
  type RequestIssue,
} from "./registry-error.js";
export { HttpProblem, isHttpProblem, type ProblemCode, ServerProblemCode } from "./server/http-problem.js";
export type { InstanceHealthCheckerOptions } from "./server/instance-health.js";
export { openApiDocument } from "./server/openapi-document.js";
export { RegistryServer, registryServer } from "./server/registry-server.js";
export {
  parseRegistryServerOptions,
  type RegistryLimits,
  type RegistrySelfPreservationOptions,
  type RegistryServerOptions,
  type ResolvedRegistryServerOptions,
  registryServerDefaults,
} from "./server/registry-server-options.js";
export { type RunningRegistry, runRegistry } from "./server/run-registry.js";
export { EmbeddedStore, type EmbeddedStoreStats, embeddedStore } from "./store/embedded-store.js";
export {
  type EmbeddedStoreOptions,
  type ExpiryGuard,
  embeddedStoreDefaults,
  parseEmbeddedStoreOptions,
  type ResolvedEmbeddedStoreOptions,
  type StoreSyncMode,
} from "./store/embedded-store-options.js";
export { EtcdStore, etcdStore } from "./store/etcd-store.js";
export {
  type EtcdStoreOptions,
  etcdStoreDefaults,
  parseEtcdStoreOptions,
  type ResolvedEtcdStoreOptions,
} from "./store/etcd-store-options.js";
export { RegistryDataCorruptError } from "./store/registry-data-corrupt-error.js";
export type {
  DeleteOptions,
  LeaseGrant,
  PutOptions,
  Store,
  StoreEntry,
  StoreEvent,
  StoreSnapshot,
  StoreWatch,
  StoreWatchHandlers,
  WriteResult,
} from "./store/store.js";
