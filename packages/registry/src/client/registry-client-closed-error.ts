import { isRegistryError, RegistryError, RegistryErrorCode } from "../registry-error.js";

/** The code of {@link RegistryClientClosedError}. */
export const registryClientClosedCode = RegistryErrorCode.ClientClosed;

/**
 * A wait that could not finish because its owner was closed or stopped: `ready()` of a closed
 * discovery cache, `registered()` of a stopped registration.
 */
export class RegistryClientClosedError extends RegistryError {
  constructor(what: string) {
    super(RegistryErrorCode.ClientClosed, `${what} was closed`);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isRegistryError(value, RegistryErrorCode.ClientClosed);
  }
}

/** True for a {@link RegistryClientClosedError} from any copy of this package. */
export function isRegistryClientClosedError(value: unknown): value is RegistryClientClosedError {
  return isRegistryError(value, RegistryErrorCode.ClientClosed);
}
