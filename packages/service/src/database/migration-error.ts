import { FlotillaError, isFlotillaError } from "@flotilla/resilience";

/** The stable error codes of `migrate()`. */
export const MigrationErrorCode = {
  /** The migrations folder cannot be read, or holds a badly named or duplicate-version `.sql` file. */
  Source: "FLT_SERVICE_MIGRATION_SOURCE",
  /** An applied migration's file changed since it was applied. */
  Checksum: "FLT_SERVICE_MIGRATION_CHECKSUM",
  /** An applied migration's file is no longer in the folder. */
  Missing: "FLT_SERVICE_MIGRATION_MISSING",
  /** A pending migration is older than one already applied (two branches merged). */
  OutOfOrder: "FLT_SERVICE_MIGRATION_OUT_OF_ORDER",
  /** A migration's SQL failed; its transaction was rolled back and later ones were not run. */
  Failed: "FLT_SERVICE_MIGRATION_FAILED",
} as const;

/** One of {@link MigrationErrorCode}'s values. */
export type MigrationErrorCode = (typeof MigrationErrorCode)[keyof typeof MigrationErrorCode];

/** Base of the migration errors; check `code` against {@link MigrationErrorCode}. */
export class MigrationError extends FlotillaError {
  constructor(code: MigrationErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isMigrationError(value);
  }
}

/** True for any migration error from any copy of this package; with `code`, only that code. */
export function isMigrationError(value: unknown, code?: MigrationErrorCode): value is MigrationError {
  return (
    isFlotillaError(value) &&
    value.code.startsWith("FLT_SERVICE_MIGRATION_") &&
    (code === undefined || value.code === code)
  );
}

/** The migrations folder cannot be used as it is; nothing was applied. */
export class MigrationSourceError extends MigrationError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(MigrationErrorCode.Source, message, options);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isMigrationError(value, MigrationErrorCode.Source);
  }
}

/** An applied migration whose file no longer has the checksum recorded when it was applied. */
export class MigrationChecksumError extends MigrationError {
  /** The migration's file name. */
  readonly file: string;
  /** The sha256 recorded when it was applied. */
  readonly recorded: string;
  /** The sha256 of the file now. */
  readonly actual: string;

  constructor(file: string, recorded: string, actual: string) {
    super(
      MigrationErrorCode.Checksum,
      `migration ${file} was changed after it was applied: recorded sha256 ${recorded}, file now ${actual}; restore the file and add a new migration instead`,
    );
    this.file = file;
    this.recorded = recorded;
    this.actual = actual;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isMigrationError(value, MigrationErrorCode.Checksum);
  }
}

/** Applied migrations whose files are gone from the folder. */
export class MigrationMissingError extends MigrationError {
  /** The file names, in version order. */
  readonly files: readonly string[];

  constructor(files: readonly string[], directory: string) {
    super(
      MigrationErrorCode.Missing,
      `applied migration${files.length === 1 ? "" : "s"} missing from ${directory}: ${files.join(", ")}; restore ${files.length === 1 ? "it" : "them"} or pass allowMissing: true`,
    );
    this.files = files;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isMigrationError(value, MigrationErrorCode.Missing);
  }
}

/** A pending migration numbered below the latest applied one. */
export class MigrationOrderError extends MigrationError {
  /** The pending file names numbered below `latest`. */
  readonly files: readonly string[];
  /** The latest applied migration's file name. */
  readonly latest: string;

  constructor(files: readonly string[], latest: string) {
    super(
      MigrationErrorCode.OutOfOrder,
      `pending migration${files.length === 1 ? "" : "s"} ${files.join(", ")} numbered below the applied ${latest}; renumber ${files.length === 1 ? "it" : "them"} after it or pass allowOutOfOrder: true`,
    );
    this.files = files;
    this.latest = latest;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isMigrationError(value, MigrationErrorCode.OutOfOrder);
  }
}

/**
 * A migration's SQL failed; its transaction was rolled back and no later migration ran. `cause`
 * is PostgreSQL's error (`code`, `position`, `detail`, …).
 */
export class MigrationFailedError extends MigrationError {
  /** The migration's file name. */
  readonly file: string;
  /** 1-based line in the file where PostgreSQL located the error, when it did. */
  readonly line: number | undefined;
  /** 1-based column of that line. */
  readonly column: number | undefined;

  constructor(file: string, location: { line: number; column: number } | undefined, cause: unknown) {
    const where = location === undefined ? "" : ` at line ${location.line}, column ${location.column}`;
    const pgCode = (cause as { code?: unknown } | null)?.code;
    super(
      MigrationErrorCode.Failed,
      `migration ${file} failed${where}: ${cause instanceof Error ? cause.message : String(cause)}${typeof pgCode === "string" ? ` (SQLSTATE ${pgCode})` : ""}; it was rolled back and later migrations were not applied`,
      { cause },
    );
    this.file = file;
    this.line = location?.line;
    this.column = location?.column;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isMigrationError(value, MigrationErrorCode.Failed);
  }
}
