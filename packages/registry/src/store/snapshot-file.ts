import { open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { RegistryDataCorruptError } from "./registry-data-corrupt-error.js";

/**
 * The content of `snapshot.json` in an embedded store's data directory: the whole state at
 * log sequence `seq`. Entries are `[key, value, createIndex, modifyIndex, lease?]`, sorted by key;
 * leases are `[id, ttlMs]`.
 */
export interface SnapshotFile {
  readonly version: 1;
  readonly seq: number;
  readonly index: number;
  readonly entries: readonly (
    | readonly [string, string, number, number]
    | readonly [string, string, number, number, string]
  )[];
  readonly leases: readonly (readonly [string, number])[];
}

/** The snapshot's file name in the data directory. */
export const snapshotFileName = "snapshot.json";

/** Reads `dir/snapshot.json`; `undefined` when there is none. Throws {@link RegistryDataCorruptError}. */
export async function readSnapshotFile(dir: string): Promise<SnapshotFile | undefined> {
  const file = join(dir, snapshotFileName);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new RegistryDataCorruptError(file, undefined, "not valid JSON", { cause: error });
  }
  const problem = checkSnapshot(raw);
  if (problem !== undefined) throw new RegistryDataCorruptError(file, undefined, problem);
  return raw as SnapshotFile;
}

/**
 * Replaces `dir/snapshot.json` atomically: the content goes to a temporary file that is fsynced
 * and renamed over the old one, and the directory is fsynced so the rename survives a crash.
 */
export async function writeSnapshotFile(dir: string, snapshot: SnapshotFile): Promise<void> {
  const file = join(dir, snapshotFileName);
  const temp = `${file}.tmp`;
  const handle = await open(temp, "w");
  try {
    await handle.writeFile(JSON.stringify(snapshot));
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
  await handle.close();
  await rename(temp, file);
  await syncDirectory(dir);
}

/** Fsyncs a directory, making the creation, rename or removal of its files durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function checkSnapshot(raw: unknown): string | undefined {
  if (typeof raw !== "object" || raw === null) return "not a JSON object";
  const s = raw as Record<string, unknown>;
  if (s.version !== 1) return `unknown version ${JSON.stringify(s.version)}`;
  if (!isCounter(s.seq) || !isCounter(s.index)) return `"seq" and "index" must be whole numbers`;
  if (!Array.isArray(s.leases)) return `"leases" must be an array`;
  for (const [n, lease] of s.leases.entries()) {
    if (
      !Array.isArray(lease) ||
      typeof lease[0] !== "string" ||
      typeof lease[1] !== "number" ||
      !(lease[1] > 0)
    )
      return `leases[${n}] must be [id, ttlMs]`;
  }
  if (!Array.isArray(s.entries)) return `"entries" must be an array`;
  for (const [n, e] of s.entries.entries()) {
    if (
      !Array.isArray(e) ||
      (e.length !== 4 && e.length !== 5) ||
      typeof e[0] !== "string" ||
      typeof e[1] !== "string" ||
      !isCounter(e[2]) ||
      !isCounter(e[3]) ||
      (e.length === 5 && typeof e[4] !== "string")
    )
      return `entries[${n}] must be [key, value, createIndex, modifyIndex, lease?]`;
  }
  return undefined;
}

function isCounter(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
