/**
 * Why an instance was ejected: `consecutive5xx` errors in a row (5xx or connection errors), or
 * `consecutiveGatewayErrors` gateway errors in a row (502, 503, 504 or connection errors).
 */
export type OutlierEjectionReason = "consecutive5xx" | "consecutiveGatewayErrors";

/** Emitted when an instance is ejected: new picks leave it out until `untilMs`. */
export interface OutlierEjectedEvent {
  readonly type: "ejected";
  /** The detector's name. */
  readonly name: string;
  readonly instanceId: string;
  readonly reason: OutlierEjectionReason;
  /** How many times this instance has been ejected since it joined the membership, this one included. */
  readonly times: number;
  /** The multiplier of `baseEjectionTime` used for this ejection, after decay. */
  readonly multiplier: number;
  /** How long the ejection lasts: `min(baseEjectionTime × multiplier, maxEjectionTime)`. */
  readonly durationMs: number;
  /** The reading of the detector's clock at which the instance returns. */
  readonly untilMs: number;
}

/**
 * Emitted when an ejected instance returns to service: its time was up (reported when the detector
 * next looks at it, or by the return timer), or {@link OutlierDetector.uneject} was called.
 */
export interface OutlierReturnedEvent {
  readonly type: "returned";
  /** The detector's name. */
  readonly name: string;
  readonly instanceId: string;
}

/**
 * Emitted when an instance reached an error threshold but was not ejected, because ejecting it
 * would have put more than `maxEjectionPercent` of the membership out (Envoy's `ejections_overflow`).
 */
export interface OutlierEjectionSkippedEvent {
  readonly type: "ejectionSkipped";
  /** The detector's name. */
  readonly name: string;
  readonly instanceId: string;
  readonly reason: OutlierEjectionReason;
}

/** Everything an {@link OutlierDetector} reports through its `events`. */
export type OutlierEvent = OutlierEjectedEvent | OutlierReturnedEvent | OutlierEjectionSkippedEvent;
