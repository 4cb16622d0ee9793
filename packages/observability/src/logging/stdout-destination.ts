import { type DestinationStream, pino } from "pino";

// At most 3 × 16384 bytes of UTF-8 (plus the line that passed the mark), under the 64 KiB `maxWrite`
// given to SonicBoom and a pipe's default 64 KiB capacity: a pipe takes a write of that size whole,
// so a write is never left half done while pino flushes synchronously on exit.
const batchChars = 16 * 1024;
const maxWriteBytes = 64 * 1024;
const batchDelayMs = 10;
// Batches are encoded into slabs of this size rather than into a Buffer each (see below).
const slabBytes = 256 * 1024;

/**
 * pino's asynchronous stdout destination (SonicBoom, `sync: false`) in its `buffer` content mode,
 * fed batches of lines rather than single lines.
 *
 * - Lines are joined into one string and handed over once they reach 16384 characters, or 10 ms
 *   after the first of them: one UTF-8 encoding and one `fs.write` for a batch. Each `fs.write`
 *   costs the event loop a few microseconds (a request to the libuv thread pool, a wake-up of one
 *   of its threads, a completion callback) and that thread CPU time; per line, under load, it
 *   cost more than formatting the line. Batches of 4096 characters (about 18 access-log lines)
 *   still cost about half a microsecond of system time per line, batches of 16384 about half
 *   that (`bench/telemetry/request-cost.ts`, the log line alone). A quiet service's line waits
 *   at most 10 ms.
 * - Buffers, not strings: in its default `utf8` mode SonicBoom appends every line to one pending
 *   string and measures that whole string's UTF-8 length again on each write, so while a write
 *   is in flight every further line costs time in proportion to the lines already waiting.
 * - Batches are encoded one after the other into 256 KiB slabs, each batch a view of its slab that
 *   is never written again, rather than into a Buffer each: a batch of 16384 characters is too big
 *   for Node's Buffer pool, and one new ArrayBuffer per batch (thousands a second under load)
 *   made V8 run a full mark-compact every few hundred milliseconds in a traced service.
 *   One slab serves about a dozen batches.
 * - `flushSync` (which pino calls on `exit`), `flush` (from `logger.flush()`) and `end` hand the
 *   waiting lines over first, so none is left behind; the timer does not keep the process alive.
 * @internal
 */
export function stdoutDestination(): DestinationStream {
  const sonic = pino.destination({ dest: 1, sync: false, contentMode: "buffer", maxWrite: maxWriteBytes });
  const writeBuffer = sonic.write as unknown as (this: typeof sonic, data: Buffer) => boolean;
  const { flush, flushSync, end } = sonic;
  let pending = "";
  let timer: NodeJS.Timeout | undefined;
  let slab = Buffer.allocUnsafeSlow(slabBytes);
  let slabUsed = 0;
  const encode = (lines: string): Buffer => {
    // Worst case three UTF-8 bytes per UTF-16 unit.
    const most = lines.length * 3;
    if (most > slabBytes) return Buffer.from(lines);
    if (slabUsed + most > slabBytes) {
      slab = Buffer.allocUnsafeSlow(slabBytes);
      slabUsed = 0;
    }
    const written = slab.write(lines, slabUsed);
    const batch = slab.subarray(slabUsed, slabUsed + written);
    slabUsed += written;
    return batch;
  };
  const handOver = (): void => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (pending === "") return;
    const lines = pending;
    pending = "";
    writeBuffer.call(sonic, encode(lines));
  };
  sonic.write = (line: string): boolean => {
    pending += line;
    if (pending.length >= batchChars) handOver();
    else if (timer === undefined) timer = setTimeout(handOver, batchDelayMs).unref();
    return true;
  };
  sonic.flushSync = (): void => {
    handOver();
    flushSync.call(sonic);
  };
  sonic.flush = (cb?: (err?: Error) => void): void => {
    handOver();
    flush.call(sonic, cb);
  };
  sonic.end = (): void => {
    handOver();
    end.call(sonic);
  };
  return sonic;
}
