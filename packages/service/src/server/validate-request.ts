import type { z } from "zod";
import type { AnyRoute } from "../contract/route.js";
import type { PipelineRequest } from "./pipeline-step.js";
import { type ProblemIssue, ServiceError, ServiceErrorCode } from "./service-error.js";

const empty: Readonly<Record<string, never>> = Object.freeze({});

/** A path as the problem lists it: `body.items.0.quantity`. */
export function issuePath(part: string, path: readonly PropertyKey[]): string {
  let out = part;
  for (const key of path) out += `.${String(key)}`;
  return out;
}

function check(
  schema: z.ZodType | undefined,
  value: unknown,
  part: string,
  issues: ProblemIssue[],
  fallback: unknown,
): unknown {
  if (schema === undefined) return fallback;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  for (const issue of result.error.issues)
    issues.push({ path: issuePath(part, issue.path), message: issue.message });
  return undefined;
}

/** The 400 problem for failing inputs, listing each path. */
export function validationProblem(issues: readonly ProblemIssue[]): ServiceError {
  return new ServiceError({
    status: 400,
    code: ServiceErrorCode.Validation,
    title: "Invalid request",
    detail: issues.map((i) => `${i.path}: ${i.message}`).join("; "),
    issues,
  });
}

/**
 * The `validation` step: parses params, query and body with the route's schemas, replacing them
 * on the request with the parsed values (parts the route does not declare become `{}`, or
 * `undefined` for the body), or throws a 400 `FLT_SERVICE_VALIDATION` problem listing every
 * failing path of every part.
 */
export function validateRequest(request: PipelineRequest, route: AnyRoute = request.definition): void {
  const issues: ProblemIssue[] = [];
  const params = check(route.params, request.params ?? {}, "params", issues, empty);
  const query = check(route.query, request.query ?? {}, "query", issues, empty);
  const body = check(route.body, request.body, "body", issues, undefined);
  if (issues.length > 0) throw validationProblem(issues);
  request.params = params;
  request.query = query;
  request.body = body;
}
