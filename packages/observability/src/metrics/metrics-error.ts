import { FlotillaError, isFlotillaError } from "@flotilla/resilience";

/** The stable codes of the metrics module (errors, and the one process warning it emits). */
export const MetricsErrorCode = {
  /** Two different policy instances of one kind were exported under the same name. */
  Conflict: "FLT_METRICS_CONFLICT",
  /** Warning code: a metric reached its limit of label sets; new ones go to the overflow series. */
  CardinalityLimit: "FLT_METRICS_CARDINALITY_LIMIT",
} as const;

/**
 * Thrown when a second, different policy instance of the same kind is exported under a name that
 * is already exported: both would write the same series, and the numbers would be meaningless.
 */
export class MetricsConflictError extends FlotillaError {
  /** The kind of policy (`circuitBreaker`, `retry`, …). */
  readonly kind: string;
  /** The name both instances carry. */
  readonly policyName: string;

  constructor(kind: string, policyName: string) {
    super(
      MetricsErrorCode.Conflict,
      `another ${kind} named "${policyName}" is already exported; give each instance its own name`,
    );
    this.kind = kind;
    this.policyName = policyName;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isMetricsConflictError(value);
  }
}

/** Type guard for {@link MetricsConflictError} across package copies. */
export const isMetricsConflictError = (e: unknown): e is MetricsConflictError =>
  isFlotillaError(e) && e.code === MetricsErrorCode.Conflict;
