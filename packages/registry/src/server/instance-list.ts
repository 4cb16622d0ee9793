import type { InstanceRecord } from "../registration.js";
import type { StreamResult } from "./sse-stream.js";

/**
 * A service's instances that pass one set of filters, at one index, sorted by id: what a query
 * answers, a stream's snapshot shows and a delta is computed from. One object is shared by every
 * client asking the same until the service changes; its JSON is built once, on first use.
 */
export class InstanceList implements StreamResult {
  readonly index: number;
  /** The records, the view's own objects: a record that did not change is the same object. */
  readonly records: readonly InstanceRecord[];
  #members: string | undefined;

  constructor(index: number, records: readonly InstanceRecord[]) {
    this.index = index;
    this.records = records;
  }

  /** `"instances":[…]`, the JSON members after `index`. */
  get members(): string {
    if (this.#members === undefined) this.#members = `"instances":${JSON.stringify(this.records)}`;
    return this.#members;
  }
}
