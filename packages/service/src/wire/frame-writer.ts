import type { Socket } from "node:net";

/**
 * Frames written in one system call at most. Writing each frame alone costs a system call per
 * call; holding all of a tick's frames makes the two processes take turns (each waits for the
 * other's whole batch). Measured on 2 cores with 32 calls in flight, 4 to 6 did best.
 */
const batchFrames = 4;

/** Writes frames to a socket, corked until the end of the tick or {@link batchFrames} frames, whichever comes first. */
export class FrameWriter {
  readonly #socket: Socket;
  #corked = false;
  #batched = 0;
  readonly #uncork = (): void => {
    this.#corked = false;
    this.#socket.uncork();
  };

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  write(frame: Buffer): void {
    const socket = this.#socket;
    if (!this.#corked) {
      this.#corked = true;
      this.#batched = 0;
      socket.cork();
      process.nextTick(this.#uncork);
    } else if (++this.#batched === batchFrames) {
      this.#batched = 0;
      socket.uncork();
      socket.cork();
    }
    socket.write(frame);
  }
}
