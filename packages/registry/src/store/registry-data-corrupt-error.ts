import { isRegistryError, RegistryError, RegistryErrorCode } from "../registry-error.js";

/**
 * A file of an embedded store's data directory that cannot be read back: a log line in the
 * middle of the log that does not parse or does not follow from the state before it, or a
 * snapshot that is not valid. The store refuses to open rather than lose data silently; restore
 * the file from a backup, or remove the damaged part knowingly.
 */
export class RegistryDataCorruptError extends RegistryError {
  /** The damaged file. */
  readonly file: string;
  /** The 1-based line of the log at fault, when the file is the log. */
  readonly line: number | undefined;

  constructor(file: string, line: number | undefined, reason: string, options?: { cause?: unknown }) {
    super(
      RegistryErrorCode.DataCorrupt,
      `${file}${line === undefined ? "" : `:${line}`} is corrupt: ${reason}`,
      options,
    );
    this.file = file;
    this.line = line;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isRegistryError(value, RegistryErrorCode.DataCorrupt);
  }
}
