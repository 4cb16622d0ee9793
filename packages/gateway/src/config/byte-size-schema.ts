import { z } from "zod";

const units: Record<string, number> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** A size in bytes: a whole number, or a string such as `"512kb"`, `"10mb"`, `"1gb"` (binary multiples). */
export const byteSizeSchema = z
  .union([z.number().int().nonnegative(), z.string()])
  .transform((value, ctx) => {
    if (typeof value === "number") return value;
    const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
    const factor = units[(match?.[2] || "b").toLowerCase()];
    if (match === null || factor === undefined) {
      ctx.addIssue({
        code: "custom",
        message: `expected a size such as "512kb" or "10mb", got ${JSON.stringify(value)}`,
      });
      return z.NEVER;
    }
    return Math.floor(Number(match[1]) * factor);
  });
