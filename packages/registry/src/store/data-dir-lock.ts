import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { RegistryError, RegistryErrorCode } from "../registry-error.js";

/** The lock's file name in the data directory. */
export const lockFileName = "store.lock";

/**
 * Keeps a second process from opening the same data directory, where two logs appended in turn
 * would corrupt each other: `store.lock` holds the owner's pid. A lock left by a process that is
 * gone (a crash) is taken over.
 */
export class DataDirLock {
  readonly file: string;
  #held = true;

  private constructor(file: string) {
    this.file = file;
  }

  /** Takes the lock of `dir`; rejects with `FLT_REGISTRY_STORE_UNAVAILABLE` while a live process holds it. */
  static async acquire(dir: string): Promise<DataDirLock> {
    const file = join(dir, lockFileName);
    for (let attempt = 0; ; attempt++) {
      try {
        const handle = await open(file, "wx");
        try {
          await handle.writeFile(String(process.pid));
        } finally {
          await handle.close();
        }
        return new DataDirLock(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw error;
      }
      const owner = Number.parseInt(await readFile(file, "utf8").catch(() => ""), 10);
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner))
        throw new RegistryError(
          RegistryErrorCode.StoreUnavailable,
          `the data directory ${dir} is in use by process ${owner}${owner === process.pid ? " (this one)" : ""}; remove ${file} if that is wrong`,
        );
      await rm(file, { force: true });
    }
  }

  /** Gives the lock up. Idempotent. */
  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    await rm(this.file, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
