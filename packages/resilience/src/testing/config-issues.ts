import { type ConfigError, isConfigError } from "../errors.js";

/** Runs `run`, which must throw a {@link ConfigError}, and returns that error. */
export function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (isConfigError(error)) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

/** The issues of the {@link ConfigError} that `run` throws, as `path: message` lines. */
export function configIssues(run: () => unknown): string[] {
  return configError(run).issues.map((i) => `${i.path}: ${i.message}`);
}
