import type { InstanceRecord } from "../registration.js";
import type { InstanceList } from "./instance-list.js";

/**
 * The JSON members of a `delta` event taking a client from `previous` to `current` (the same
 * service and filters): `"put":[…]` with every record added or changed, `"delete":[…]` with the id of
 * every record gone. `undefined` when no record changed; `null` when a snapshot says it better —
 * the index went backwards (a store that lost its state), or at least as many records changed as
 * `current` holds (as after the view re-listed its store, which renews every record object).
 *
 * Both lists are sorted by id, and an unchanged record is the same object in both, so one merge
 * pass with identity comparisons finds the changes.
 */
export function instanceListDelta(previous: InstanceList, current: InstanceList): string | null | undefined {
  if (current.index < previous.index) return null;
  const before = previous.records;
  const after = current.records;
  const put: InstanceRecord[] = [];
  const deleted: string[] = [];
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    const a = before[i];
    const b = after[j];
    if (a === b) {
      i++;
      j++;
    } else if (b === undefined || (a !== undefined && a.id < b.id)) {
      deleted.push(a!.id);
      i++;
    } else if (a === undefined || b.id < a.id) {
      put.push(b);
      j++;
    } else {
      put.push(b);
      i++;
      j++;
    }
  }
  if (put.length === 0 && deleted.length === 0) return undefined;
  if (put.length > 0 && put.length >= after.length) return null;
  return `"put":${JSON.stringify(put)},"delete":${JSON.stringify(deleted)}`;
}
