/** Where `flotilla` writes for people: a stream, whether it may use colours, and whether it is a terminal. */
export interface OutputStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

const palette = [36, 35, 33, 34, 32, 96, 95, 93, 94, 92];

/**
 * Line output of `flotilla up`: log lines prefixed by their source (`orders-1 │ …`, one colour per
 * service), progress lines, and, on a terminal, a status line kept at the bottom and redrawn below
 * each new line. Colours and the status line only when the stream is a TTY (and `NO_COLOR` unset).
 */
export class TerminalOutput {
  readonly #stream: OutputStream;
  readonly colors: boolean;
  readonly live: boolean;
  readonly #colorOf = new Map<string, number>();
  #status = "";
  #prefixWidth = 10;

  constructor(stream: OutputStream, env: Readonly<Record<string, string | undefined>> = process.env) {
    this.#stream = stream;
    this.live = stream.isTTY === true;
    this.colors = this.live && (env.NO_COLOR === undefined || env.NO_COLOR === "");
  }

  /** Pads every source prefix to this width, so the `│` columns line up. */
  setPrefixWidth(width: number): void {
    this.#prefixWidth = width;
  }

  /** `text` in ANSI colour `code` when colours are on. */
  paint(code: number | string, text: string): string {
    return this.colors ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  /** The colour of a service (stable for the run). */
  colorOf(service: string): number {
    let color = this.#colorOf.get(service);
    if (color === undefined) {
      color = palette[this.#colorOf.size % palette.length] as number;
      this.#colorOf.set(service, color);
    }
    return color;
  }

  /** Writes one line (no trailing newline needed). */
  line(text: string): void {
    if (this.live && this.#status !== "") {
      this.#stream.write(`\r\x1b[2K${text}\n${this.#status}`);
    } else {
      this.#stream.write(`${text}\n`);
    }
  }

  /** Writes a log line of `source` (an instance id or a component) with its prefix. */
  log(service: string, source: string, text: string): void {
    const prefix = source.padEnd(this.#prefixWidth);
    this.line(`${this.paint(this.colorOf(service), prefix)} ${this.paint(2, "│")} ${text}`);
  }

  /** Replaces the status line (TTY only; a no-op otherwise). */
  setStatus(text: string): void {
    if (!this.live) return;
    const width = this.#stream.columns ?? 120;
    const cut = visibleSlice(text, Math.max(20, width - 1));
    this.#stream.write(`\r\x1b[2K${cut}`);
    this.#status = cut;
  }

  /** Removes the status line. */
  clearStatus(): void {
    if (this.live && this.#status !== "") this.#stream.write("\r\x1b[2K");
    this.#status = "";
  }
}

/** Cuts `text` to `max` visible characters, leaving ANSI colour sequences whole. */
function visibleSlice(text: string, max: number): string {
  let visible = 0;
  let out = "";
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\x1b") {
      const end = text.indexOf("m", i);
      if (end !== -1) {
        out += text.slice(i, end + 1);
        i = end;
        continue;
      }
    }
    if (visible >= max) break;
    out += text[i];
    visible++;
  }
  return text.includes("\x1b") ? `${out}\x1b[0m` : out;
}
