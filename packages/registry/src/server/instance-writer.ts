import type { InstanceRecord } from "../registration.js";
import type { Store } from "../store/store.js";
import type { RegistryView } from "./registry-view.js";
import { encodeInstance, instanceKey, type ViewInstance } from "./store-layout.js";

/** What {@link InstanceWriter} needs. */
export interface InstanceWriterOptions {
  readonly store: Store;
  readonly view: RegistryView;
  /** How long to wait for the view to catch up with a write before going on without it. */
  readonly catchUpMs: number;
}

const attempts = 5;

/**
 * Read-modify-write of instance records with compare-and-set on `modifyIndex`, so that this
 * server's health updates, lease expiry and other registry servers sharing the store never
 * overwrite each other's newer writes: on a conflict it waits for the view to see the newer
 * record and decides again from that.
 */
export class InstanceWriter {
  readonly #store: Store;
  readonly #view: RegistryView;
  readonly #catchUpMs: number;

  constructor(options: InstanceWriterOptions) {
    this.#store = options.store;
    this.#view = options.view;
    this.#catchUpMs = options.catchUpMs;
  }

  /**
   * Rewrites `service`/`id` with what `change` makes of the current record; `change` returns
   * `undefined` when there is nothing to write (already done, another lease, …). Resolves `true`
   * when this call wrote, `false` when the instance is gone or `change` declined.
   */
  async update(
    service: string,
    id: string,
    change: (current: ViewInstance) => Omit<InstanceRecord, "modifyIndex"> | undefined,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const current = this.#view.instance(service, id);
      if (current === undefined) return false;
      const next = change(current);
      if (next === undefined) return false;
      const result = await this.#store.put(
        instanceKey(service, id),
        encodeInstance(next, current.definitions),
        {
          cas: current.record.modifyIndex,
        },
      );
      await this.#view.waitForIndex(
        result.ok ? result.index : (result.current?.modifyIndex ?? result.index),
        this.#catchUpMs,
      );
      if (result.ok) return true;
    }
    return false;
  }

  /**
   * Deletes `service`/`id` if it still holds `lease` (compare-and-set on its `modifyIndex`, so a
   * re-registration in between is kept). Resolves `true` when this call deleted it.
   */
  async remove(service: string, id: string, lease: string): Promise<boolean> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const current = this.#view.instance(service, id);
      if (current === undefined || current.record.lease !== lease) return false;
      const result = await this.#store.delete(instanceKey(service, id), { cas: current.record.modifyIndex });
      await this.#view.waitForIndex(
        result.ok ? result.index : (result.current?.modifyIndex ?? result.index),
        this.#catchUpMs,
      );
      if (result.ok) return true;
      if (result.current === undefined) return false;
    }
    return false;
  }
}
