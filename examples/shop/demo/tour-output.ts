import type { HttpResult } from "./http-call.ts";

/** A pattern's verdict, for the summary at the end. */
export interface Verdict {
  readonly title: string;
  readonly ok: boolean;
  readonly line: string;
}

/** Whether to colour the output: a terminal without `NO_COLOR`. */
export const useColors = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;

const paint = (code: number, text: string): string => (useColors ? `\x1b[${code}m${text}\x1b[0m` : text);

/** Dimmed text. */
export const dim = (text: string): string => paint(2, text);

/**
 * Prints the tour: section headings, explanations, the requests made with their answers, and one
 * ✓/✗ line per pattern, which it also collects for the summary.
 */
export class TourOutput {
  readonly verdicts: Verdict[] = [];
  #title = "";

  /** Starts a section: its heading and what it shows. */
  section(index: number, title: string, explanation: string): void {
    this.#title = title;
    console.log(`\n${paint(1, `${index}. ${title}`)}`);
    for (const line of explanation.split("\n")) console.log(`   ${dim(line)}`);
  }

  /** A line of the section's narration. */
  info(text: string): void {
    console.log(`   ${text}`);
  }

  /** One request and its answer: `→ GET /api/x  200  12 ms  note`. */
  request(method: string, path: string, result: HttpResult, note = ""): void {
    const status = result.status < 400 ? paint(32, String(result.status)) : paint(33, String(result.status));
    const ms = `${result.ms.toFixed(0).padStart(4)} ms`;
    console.log(
      `   → ${method.padEnd(4)} ${path.padEnd(34)} ${status} ${dim(ms)}${note === "" ? "" : `  ${note}`}`,
    );
  }

  /** Records and prints the section's verdict. */
  verdict(ok: boolean, line: string): void {
    this.verdicts.push({ title: this.#title, ok, line });
    console.log(`   ${ok ? paint(32, "✓") : paint(31, "✗")} ${line}`);
  }

  /** Prints a block (a waterfall, a table) indented under the section. */
  block(text: string): void {
    for (const line of text.replace(/\n$/, "").split("\n")) console.log(`   ${line}`);
  }
}
