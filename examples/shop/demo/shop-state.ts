import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

/** The part of `flotilla up`'s `state.json` the demo reads. */
export interface ShopState {
  readonly pid: number;
  readonly urls: { readonly gateway: string; readonly registry: string; readonly collector: string };
}

/** Why {@link readShopState} found nothing to tour. */
export class ShopNotRunningError extends Error {
  override readonly name = "ShopNotRunningError";
}

/** The shop's state file: `examples/shop/.flotilla/state.json` (the config's default `stateDir`). */
export const defaultStateFile = fileURLToPath(new URL("../.flotilla/state.json", import.meta.url));

/**
 * Reads the running shop's URLs from `state.json`. Throws {@link ShopNotRunningError} when the
 * file is missing, unreadable, or written by a `flotilla up` that is no longer alive.
 */
export async function readShopState(file: string = defaultStateFile): Promise<ShopState> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new ShopNotRunningError(`the shop is not running (no ${file}): start it with npm start`);
  }
  let state: Partial<ShopState>;
  try {
    state = JSON.parse(text) as Partial<ShopState>;
  } catch {
    throw new ShopNotRunningError(`${file} is not JSON: restart the shop with npm start`);
  }
  const { pid, urls } = state;
  if (typeof pid !== "number" || !urls?.gateway || !urls.registry || !urls.collector) {
    throw new ShopNotRunningError(`${file} lacks the pid or the URLs: restart the shop with npm start`);
  }
  if (!isAlive(pid)) {
    throw new ShopNotRunningError(
      `the shop is not running (${file} names pid ${pid}, which has exited): start it with npm start`,
    );
  }
  return { pid, urls };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but owned by someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
