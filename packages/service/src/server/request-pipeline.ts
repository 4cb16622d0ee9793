import { ConfigReader } from "@flotilla/resilience";
import type { HandlerContext } from "./handler-context.js";
import {
  fillablePositions,
  type PipelinePosition,
  type PipelineRequest,
  type PipelineStep,
  pipelinePositions,
} from "./pipeline-step.js";
import type { ServiceResponse } from "./service-response.js";

/** One link of a resolved pipeline: a built-in position (possibly filled) or an added step. */
export interface PipelineLink {
  readonly name: string;
  /** The service's step for this link; absent for an empty slot or Flotilla's own steps. */
  readonly step: PipelineStep | undefined;
}

/**
 * Orders a service's steps around the built-in positions. Throws a `ConfigError` naming each bad
 * step by path (`pipeline[1].after`): duplicate names, a built-in replaced, a position filled
 * twice, an anchor that does not exist, both or neither of `before`/`after` for an added step,
 * anything after `handler`.
 */
export function resolvePipeline(steps: readonly PipelineStep[], path = "pipeline"): readonly PipelineLink[] {
  const reader = new ConfigReader();
  const links: { name: string; step: PipelineStep | undefined }[] = pipelinePositions.map((name) => ({
    name,
    step: undefined,
  }));
  if (!Array.isArray(steps)) {
    reader.issue(path, "expected an array of steps");
    reader.throwIfInvalid();
  }
  steps.forEach((step, i) => {
    const at = `${path}[${i}]`;
    if (typeof step !== "object" || step === null) {
      reader.issue(at, "expected a step object { name, run }");
      return;
    }
    const { name, before, after } = step;
    if (typeof name !== "string" || name === "") {
      reader.issue(`${at}.name`, "expected a non-empty string");
      return;
    }
    if (typeof step.run !== "function") reader.issue(`${at}.run`, "expected a function (request, ctx, next)");
    const anchor = before ?? after;
    if (before !== undefined && after !== undefined) {
      reader.issue(at, `step "${name}" gives both before and after; give one`);
      return;
    }
    const position = (pipelinePositions as readonly string[]).includes(name)
      ? (name as PipelinePosition)
      : undefined;
    if (position !== undefined) {
      if (!fillablePositions.includes(position)) {
        reader.issue(`${at}.name`, `"${name}" is Flotilla's own step and cannot be replaced`);
        return;
      }
      if (anchor !== undefined) {
        reader.issue(at, `step "${name}" fills its built-in position; it takes no before/after`);
        return;
      }
      const link = links.find((l) => l.name === name)!;
      if (link.step !== undefined) {
        reader.issue(`${at}.name`, `position "${name}" is filled twice`);
        return;
      }
      link.step = step;
      return;
    }
    if (links.some((l) => l.name === name)) {
      reader.issue(`${at}.name`, `duplicate step name "${name}"`);
      return;
    }
    if (anchor === undefined) {
      reader.issue(
        at,
        `step "${name}" needs before or after (one of ${links.map((l) => l.name).join(", ")})`,
      );
      return;
    }
    const index = links.findIndex((l) => l.name === anchor);
    const key = before !== undefined ? "before" : "after";
    if (index < 0) {
      reader.issue(
        `${at}.${key}`,
        `no step named "${anchor}"; expected one of ${links.map((l) => l.name).join(", ")}`,
      );
      return;
    }
    if (key === "after" && anchor === "handler") {
      reader.issue(`${at}.after`, 'nothing runs after the handler; wrap it with before: "handler"');
      return;
    }
    links.splice(key === "before" ? index : index + 1, 0, { name, step });
  });
  reader.throwIfInvalid();
  return links;
}

/** Flotilla's own steps, given by the server. */
export interface BuiltInSteps {
  readonly validation: PipelineStep["run"];
  readonly idempotency: PipelineStep["run"];
  /** The end of the chain: the route's handler. */
  readonly handler: (request: PipelineRequest, ctx: HandlerContext) => Promise<ServiceResponse>;
}

type Run = PipelineStep["run"];

/**
 * The request pipeline of one service as an ordered chain of responsibility: each link gets the
 * request, the context and `next` (the rest of the chain). Empty positions are left out, so an
 * unused slot costs nothing.
 */
export class RequestPipeline {
  /** The names of the links that run, in order (the handler last). */
  readonly names: readonly string[];
  readonly #runs: readonly Run[];
  readonly #handler: BuiltInSteps["handler"];

  constructor(links: readonly PipelineLink[], builtIns: BuiltInSteps) {
    const names: string[] = [];
    const runs: Run[] = [];
    for (const link of links) {
      let run: Run | undefined;
      if (link.step !== undefined) run = (req, ctx, next) => link.step!.run(req, ctx, next);
      else if (link.name === "validation") run = builtIns.validation;
      else if (link.name === "idempotency") run = builtIns.idempotency;
      if (link.name === "handler" || run === undefined) continue;
      names.push(link.name);
      runs.push(run);
    }
    names.push("handler");
    this.names = names;
    this.#runs = runs;
    this.#handler = builtIns.handler;
  }

  /** Runs the chain for one request. */
  run(request: PipelineRequest, ctx: HandlerContext): Promise<ServiceResponse> {
    const runs = this.#runs;
    const handler = this.#handler;
    const dispatch = (index: number): Promise<ServiceResponse> => {
      if (index === runs.length) return handler(request, ctx);
      let called = false;
      const next = (): Promise<ServiceResponse> => {
        if (called)
          return Promise.reject(new Error(`pipeline step "${this.names[index]}" called next() twice`));
        called = true;
        return dispatch(index + 1);
      };
      try {
        return Promise.resolve(runs[index]!(request, ctx, next));
      } catch (error) {
        return Promise.reject(error);
      }
    };
    return dispatch(0);
  }
}
