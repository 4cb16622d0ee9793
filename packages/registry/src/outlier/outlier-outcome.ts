/**
 * The named outcomes {@link OutlierDetector.record} accepts besides an HTTP status code.
 *
 * - `success`: the call completed; it resets the instance's consecutive-error counts.
 * - `serverError`: the instance answered with a server-side error that is not a gateway error
 *   (HTTP 500, gRPC `INTERNAL`, …); it counts towards `consecutive5xx`.
 * - `gatewayError`: HTTP 502, 503 or 504 or the like; it counts towards `consecutive5xx` and
 *   `consecutiveGatewayErrors`.
 * - `connectionError`: the connection was refused or reset, or the call timed out. Envoy maps these
 *   local-origin errors to 503 and 504 unless `split_external_local_origin_errors` is set, so they
 *   count like a gateway error.
 */
export const OutlierOutcome = {
  Success: "success",
  ServerError: "serverError",
  GatewayError: "gatewayError",
  ConnectionError: "connectionError",
} as const;

/**
 * What {@link OutlierDetector.record} is told about one call: one of {@link OutlierOutcome}'s
 * values, or an HTTP status code. A status from 500 to 599 is a 5xx, and 502, 503 and 504 are also
 * gateway errors; any other number (1xx to 4xx) is a success, as in Envoy.
 */
export type OutlierOutcome = (typeof OutlierOutcome)[keyof typeof OutlierOutcome] | number;
