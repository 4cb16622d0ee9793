import { parseDuration } from "@flotilla/resilience";
import { z } from "zod";

/**
 * A duration in configuration (zod 4): milliseconds as a number, or a string such as `"250ms"`,
 * `"5s"`, `"1m30s"`; parsed to milliseconds, with `parseDuration`'s message as the issue when it
 * is not one. The one duration schema of every Flotilla package that reads configuration.
 */
export const durationSchema = z.union([z.number(), z.string()]).transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});
