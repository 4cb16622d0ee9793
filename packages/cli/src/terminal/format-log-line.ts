const levelNames: Readonly<Record<number, string>> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};
const levelColors: Readonly<Record<string, number>> = { WARN: 33, ERROR: 31, FATAL: 31, DEBUG: 2, TRACE: 2 };
const hidden = new Set(["level", "time", "pid", "hostname", "service", "instance", "msg", "trace_flags"]);

/**
 * Shortens a JSON log line (pino's shape) for the terminal: `INFO  message key=value …` without the
 * fields the prefix already says (service, instance, pid, host, time). Anything that is not a JSON
 * object is returned as it is.
 */
export function formatLogLine(line: string, paint: (code: number, text: string) => string): string {
  if (!line.startsWith("{")) return line;
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof record !== "object" || record === null) return line;
  const raw = record.level;
  const level =
    (typeof raw === "number" ? levelNames[raw] : typeof raw === "string" ? raw.toUpperCase() : "") ?? "";
  const fields = Object.entries(record)
    .filter(([key]) => !hidden.has(key))
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
  const color = levelColors[level];
  const levelText =
    level === "" ? "" : `${color === undefined ? level.padEnd(5) : paint(color, level.padEnd(5))} `;
  const message = typeof record.msg === "string" ? record.msg : "";
  return `${levelText}${message}${fields === "" ? "" : ` ${paint(2, fields)}`}`;
}
