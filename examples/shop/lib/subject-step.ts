import { type HandlerContext, type PipelineStep, problem } from "@flotilla/service";

/** Options of {@link subjectStep}. */
export interface SubjectStepOptions {
  /** Routes (by name) that answer without an authenticated user. Default none. */
  readonly publicRoutes?: readonly string[];
}

/**
 * The `authentication` slot for services behind the gateway: the gateway verified the JWT and
 * forwards its subject as `x-flotilla-subject` (clients cannot forge it: the gateway strips every
 * `x-flotilla-*` header it receives). Puts the user id in `ctx.state.subject`; 401 without it.
 */
export function subjectStep(options: SubjectStepOptions = {}): PipelineStep {
  const publicRoutes = new Set(options.publicRoutes ?? []);
  return {
    name: "authentication",
    async run(request, ctx, next) {
      const header = request.headers["x-flotilla-subject"];
      if (typeof header === "string" && header !== "") {
        ctx.state.subject = decodeSubject(header);
      } else if (!publicRoutes.has(request.route)) {
        throw problem(401, "this route needs an authenticated user (x-flotilla-subject)", {
          code: "SHOP_UNAUTHENTICATED",
        });
      }
      return next();
    },
  };
}

function decodeSubject(header: string): string {
  try {
    return decodeURIComponent(header);
  } catch (error) {
    throw problem(400, "x-flotilla-subject is not percent-encoded UTF-8", {
      code: "SHOP_BAD_SUBJECT",
      cause: error,
    });
  }
}

/** The user id {@link subjectStep} found; 401 when the route is public and none was sent. */
export function subjectOf(ctx: Pick<HandlerContext, "state">): string {
  const subject = ctx.state.subject;
  if (typeof subject !== "string")
    throw problem(401, "no authenticated user", { code: "SHOP_UNAUTHENTICATED" });
  return subject;
}
