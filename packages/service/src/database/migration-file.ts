import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MigrationSourceError } from "./migration-error.js";

/** One migration read from the folder. */
export interface MigrationFile {
  /** The number before the first `_`: the order migrations apply in. */
  readonly version: number;
  /** The file name (`0002_add_orders_index.sql`): what is recorded, logged and named in errors. */
  readonly name: string;
  /** The SQL to run, without a byte order mark. */
  readonly sql: string;
  /** {@link migrationChecksum} of the SQL. */
  readonly checksum: string;
}

/**
 * The migration file naming scheme: a version number, `_`, a description of letters, digits, `_`
 * and `-`, and `.sql` (`0001_create_orders.sql`). Versions need not be contiguous or padded
 * (`20250114093000_x.sql` works), but padding keeps a directory listing in order.
 */
export const migrationFilePattern: RegExp = /^(\d+)_([A-Za-z0-9][A-Za-z0-9_-]*)\.sql$/;

/** The version of a file named after {@link migrationFilePattern}, or undefined for any other name. */
export function migrationVersion(name: string): number | undefined {
  const match = migrationFilePattern.exec(name);
  if (match === null) return undefined;
  const version = Number(match[1]);
  return Number.isSafeInteger(version) ? version : undefined;
}

/**
 * The sha256 (hex) of a migration's SQL with its line endings made `\n` and any byte order mark
 * removed, so a checkout that converts line endings does not look like an edit.
 */
export function migrationChecksum(sql: string): string {
  return createHash("sha256")
    .update(sql.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n"))
    .digest("hex");
}

/**
 * Reads every `.sql` file of `directory` (not sub-folders), in version order. Other files are
 * ignored; a `.sql` file not named after {@link migrationFilePattern}, two files with one version,
 * or a folder that cannot be read throws a {@link MigrationSourceError} and nothing is applied.
 */
export async function readMigrations(directory: string | URL): Promise<MigrationFile[]> {
  const path = typeof directory === "string" ? directory : fileURLToPath(directory);
  let entries: { name: string; isFile(): boolean }[];
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (error) {
    throw new MigrationSourceError(`cannot read the migrations folder ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const byVersion = new Map<number, string>();
  const files: { version: number; name: string }[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.toLowerCase().endsWith(".sql")) continue;
    const version = migrationVersion(entry.name);
    if (version === undefined) {
      throw new MigrationSourceError(
        `migration file ${entry.name} in ${path} is not named <version>_<description>.sql (digits, "_", letters, digits, "_" or "-"), e.g. 0001_create_orders.sql`,
      );
    }
    const other = byVersion.get(version);
    if (other !== undefined) {
      const [a, b] = [other, entry.name].sort();
      throw new MigrationSourceError(
        `migration files ${a} and ${b} in ${path} have the same version ${version}`,
      );
    }
    byVersion.set(version, entry.name);
    files.push({ version, name: entry.name });
  }
  files.sort((a, b) => a.version - b.version);
  return Promise.all(
    files.map(async ({ version, name }) => {
      const sql = (await readFile(join(path, name), "utf8")).replace(/^\uFEFF/, "");
      return { version, name, sql, checksum: migrationChecksum(sql) };
    }),
  );
}
