import type { ClientLogger } from "./client-logger.js";

/**
 * Logs a registry outage once: a warning at the first failure, debug lines for the failures after
 * it, and one info line when a call succeeds again. Shared by everything that talks to the
 * registry in a loop, so that a long outage does not flood the log.
 */
export class OutageLog {
  readonly #logger: ClientLogger;
  readonly #what: string;
  #down = false;
  #failures = 0;

  /** `what` names the loop in messages: `registration`, `discovery`. */
  constructor(logger: ClientLogger, what: string) {
    this.#logger = logger;
    this.#what = what;
  }

  /** True between a failure and the next success. */
  get down(): boolean {
    return this.#down;
  }

  /** Records a failed call. */
  failure(error: unknown, fields: object = {}): void {
    this.#failures++;
    const err = error instanceof Error ? error : new Error(String(error));
    if (this.#down) {
      this.#logger.debug(
        { ...fields, err, failures: this.#failures },
        `${this.#what}: registry still unreachable`,
      );
      return;
    }
    this.#down = true;
    this.#logger.warn({ ...fields, err }, `${this.#what}: registry unreachable; retrying in the background`);
  }

  /** Records a successful call; ends the outage, if there was one. */
  success(fields: object = {}): void {
    if (!this.#down) return;
    this.#logger.info({ ...fields, failures: this.#failures }, `${this.#what}: registry reachable again`);
    this.#down = false;
    this.#failures = 0;
  }
}
