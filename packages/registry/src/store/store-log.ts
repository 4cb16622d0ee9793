import { type FileHandle, open, truncate } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@flotilla/observability";
import { RegistryDataCorruptError } from "./registry-data-corrupt-error.js";
import { parseStoreRecord, type StoreRecord } from "./store-record.js";

/** The log's file name in the data directory. */
export const logFileName = "store.log";

const readChunk = 1 << 20;
const newline = 0x0a;

/**
 * The append-only log of an embedded store, `store.log`: one JSON {@link StoreRecord} per line.
 * {@link StoreLog.open} replays it; {@link StoreLog.append} adds a batch of lines with one write and
 * (optionally) one `fdatasync`, and takes a failed batch back out of the file so that the file
 * never holds a write its caller saw fail.
 */
export class StoreLog {
  readonly file: string;
  #handle: FileHandle | undefined;
  #bytes: number;
  #records: number;
  #broken: Error | undefined;

  private constructor(file: string, handle: FileHandle, bytes: number, records: number) {
    this.file = file;
    this.#handle = handle;
    this.#bytes = bytes;
    this.#records = records;
  }

  /**
   * Opens `dir/store.log`, creating it when missing, and hands every record to `replay` with its
   * 1-based line number. A final line cut short by a crash (a partial write) is dropped from the
   * file with a warning; an unreadable line before the last one, or a record `replay` rejects by
   * throwing, fails with {@link RegistryDataCorruptError} naming the file and line.
   */
  static async open(
    dir: string,
    replay: (record: StoreRecord, line: number) => void,
    logger?: Logger,
  ): Promise<StoreLog> {
    const file = join(dir, logFileName);
    const { validBytes, totalBytes, records } = await readLog(file, replay);
    if (validBytes < totalBytes) {
      logger?.warn(
        { file, droppedBytes: totalBytes - validBytes },
        "dropping a torn final line of the store log (a write cut short by a crash)",
      );
      await truncate(file, validBytes);
    }
    const handle = await open(file, "a");
    return new StoreLog(file, handle, validBytes, records);
  }

  /** Bytes in the file. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Lines in the file (records since the last {@link StoreLog.reset}). */
  get records(): number {
    return this.#records;
  }

  /** Why the log can take no more writes: a failed batch that could not be taken back out. */
  get broken(): Error | undefined {
    return this.#broken;
  }

  /**
   * Appends `lines` (each a JSON record ending in a newline) with one write, then `fdatasync`s
   * when `sync` is set. On failure the file is cut back to its length before the call and the
   * error is thrown; when even that fails, the log is {@link StoreLog.broken}.
   */
  async append(lines: string, count: number, sync: boolean): Promise<void> {
    const handle = this.#open();
    const buffer = Buffer.from(lines, "utf8");
    try {
      let written = 0;
      while (written < buffer.length) {
        const { bytesWritten } = await handle.write(buffer, written, buffer.length - written, null);
        written += bytesWritten;
      }
      if (sync) await handle.datasync();
    } catch (error) {
      try {
        await handle.truncate(this.#bytes);
      } catch (truncateError) {
        this.#broken = new Error(`could not take a failed write back out of ${this.file}`, {
          cause: truncateError,
        });
      }
      throw error;
    }
    this.#bytes += buffer.length;
    this.#records += count;
  }

  /** Empties the file, once a snapshot holds everything in it. */
  async reset(): Promise<void> {
    const handle = this.#open();
    await handle.truncate(0);
    await handle.datasync();
    this.#bytes = 0;
    this.#records = 0;
  }

  /** Closes the file. Idempotent. */
  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }

  #open(): FileHandle {
    if (this.#broken !== undefined) throw this.#broken;
    if (this.#handle === undefined) throw new Error(`${this.file} is closed`);
    return this.#handle;
  }
}

interface LogRead {
  /** Bytes up to the end of the last good line. */
  readonly validBytes: number;
  readonly totalBytes: number;
  readonly records: number;
}

async function readLog(file: string, replay: (record: StoreRecord, line: number) => void): Promise<LogRead> {
  let handle: FileHandle;
  try {
    handle = await open(file, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT")
      return { validBytes: 0, totalBytes: 0, records: 0 };
    throw error;
  }
  try {
    let rest = Buffer.alloc(0);
    let offset = 0;
    let validBytes = 0;
    let line = 0;
    // A complete line that does not parse is only a torn write when nothing follows it.
    let unreadable: { line: number; error: unknown } | undefined;
    const chunk = Buffer.allocUnsafe(readChunk);
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, readChunk, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
      rest =
        rest.length === 0
          ? Buffer.from(chunk.subarray(0, bytesRead))
          : Buffer.concat([rest, chunk.subarray(0, bytesRead)]);
      let start = 0;
      for (let end = rest.indexOf(newline); end >= 0; end = rest.indexOf(newline, start)) {
        if (unreadable !== undefined) throw corrupt(file, unreadable.line, unreadable.error);
        line++;
        let record: StoreRecord | undefined;
        try {
          record = parseStoreRecord(rest.toString("utf8", start, end));
        } catch (error) {
          unreadable = { line, error };
        }
        if (record !== undefined) {
          try {
            replay(record, line);
          } catch (error) {
            throw corrupt(file, line, error);
          }
          validBytes += end + 1 - start;
        }
        start = end + 1;
      }
      rest = rest.subarray(start);
    }
    if (unreadable !== undefined && rest.length > 0) throw corrupt(file, unreadable.line, unreadable.error);
    return { validBytes, totalBytes: offset, records: unreadable === undefined ? line : line - 1 };
  } finally {
    await handle.close();
  }
}

function corrupt(file: string, line: number, error: unknown): RegistryDataCorruptError {
  const reason = error instanceof Error ? error.message : String(error);
  return new RegistryDataCorruptError(file, line, reason, { cause: error });
}
