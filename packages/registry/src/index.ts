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
