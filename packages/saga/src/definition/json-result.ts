import type { ZodType } from "zod";
import { SagaError, SagaErrorCode } from "../saga-error.js";

/**
 * Checks that a step result is plain JSON (null, booleans, finite numbers, strings, arrays and plain
 * objects of them) and then passes `schema` when given; returns it as stored (the schema's output).
 * `undefined` is stored as `null` when no schema refuses it. Anything else throws `FLT_SAGA_RESULT_INVALID` naming the offending path.
 */
export function jsonResult(value: unknown, schema: ZodType | undefined, step: string): unknown {
  if (value !== undefined) {
    const problem = jsonProblem(value, "(result)", new Set());
    if (problem !== undefined) {
      throw new SagaError(SagaErrorCode.ResultInvalid, `result of step "${step}" is not JSON: ${problem}`, {
        step,
        issues: [{ path: problem.slice(0, problem.indexOf(":")), message: problem }],
      });
    }
  }
  if (schema === undefined) return value === undefined ? null : value;
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({
      path: issue.path.length === 0 ? "(result)" : issue.path.map(String).join("."),
      message: issue.message,
    }));
    throw new SagaError(
      SagaErrorCode.ResultInvalid,
      `result of step "${step}" fails its schema: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
      { step, issues },
    );
  }
  return parsed.data === undefined ? null : parsed.data;
}

function jsonProblem(value: unknown, path: string, seen: Set<object>): string | undefined {
  if (value === null || typeof value === "string" || typeof value === "boolean") return undefined;
  if (typeof value === "number")
    return Number.isFinite(value) ? undefined : `${path}: ${value} is not a JSON number`;
  if (typeof value !== "object") return `${path}: a ${typeof value} is not JSON`;
  if (seen.has(value)) return `${path}: circular reference`;
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const problem = jsonProblem(value[i], `${path}[${i}]`, seen);
        if (problem !== undefined) return problem;
      }
      return undefined;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      return `${path}: a ${value.constructor?.name ?? "non-plain"} object is not JSON`;
    }
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined) return `${path}.${key}: undefined is not JSON`;
      const problem = jsonProblem(item, `${path}.${key}`, seen);
      if (problem !== undefined) return problem;
    }
    return undefined;
  } finally {
    seen.delete(value);
  }
}
