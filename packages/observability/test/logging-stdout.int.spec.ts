import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");

beforeAll(() => {
  // The child runs the built package, as a deployed service would.
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-b", join(root, "packages", "observability")], { stdio: "inherit" });
}, 120_000);

describe("createLogger to stdout", () => {
  it("writes every line whole and in order, non-ASCII text included, and flushes on process.exit", async () => {
    const count = 3000;
    const child = spawn(process.execPath, [join(here, "fixtures", "stdout-logger.ts")], {
      cwd: root,
      env: { ...process.env, LINES: String(count), FLOTILLA_LOG_PRETTY: "0" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
    const lines = Buffer.concat(chunks)
      .toString("utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as { i: number; msg: string; text?: string; time: string });
    expect(lines.map((line) => line.i)).toEqual(Array.from({ length: count + 1 }, (_, i) => i));
    expect(
      lines.slice(0, count).every((line) => line.text === "héllo wörld ✓ 🚢" && line.msg === "burst"),
    ).toBe(true);
    expect(lines[count]!.msg).toBe("after a timer");
    expect(new Date(lines[count]!.time).toISOString()).toBe(lines[count]!.time);
  }, 60_000);
});
