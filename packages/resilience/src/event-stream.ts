/** Removes a listener added with {@link EventStream.subscribe}. */
export type Unsubscribe = () => void;

/**
 * A typed stream of events. Emitting costs one length check when nobody listens, and callers
 * check {@link EventStream.active} before they build an event object.
 */
export class EventStream<E> {
  #listeners: ((event: E) => void)[] = [];

  /** True while at least one listener is subscribed. */
  get active(): boolean {
    return this.#listeners.length > 0;
  }

  /** Adds a listener and returns the function that removes it. */
  subscribe(listener: (event: E) => void): Unsubscribe {
    // Copy on write, so a listener that unsubscribes during an emit does not skip its neighbour.
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** Delivers `event` to every listener. A listener that throws is reported as a warning and skipped. */
  emit(event: E): void {
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i]!(event);
      } catch (error) {
        process.emitWarning(
          `a @flotilla/resilience event listener threw: ${error instanceof Error ? error.message : String(error)}`,
          { code: "FLT_LISTENER_ERROR", detail: error instanceof Error ? error.stack : undefined },
        );
      }
    }
  }
}
