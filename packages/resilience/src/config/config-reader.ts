import { type Clock, systemClock } from "../clock.js";
import { type Duration, parseDuration } from "../duration.js";
import { ConfigError, type ConfigIssue } from "../errors.js";

/** Bounds for {@link ConfigReader.number}. */
export interface NumberRule {
  readonly min?: number;
  readonly max?: number;
  /** Strict lower bound: the value must be greater than this. */
  readonly above?: number;
  readonly integer?: boolean;
}

/**
 * Reads plain configuration objects and collects every problem with its exact path
 * (`instances.payments.failureRateThreshold`), so one start-up error lists them all.
 * Policies use it both for their constructor options and for named instances from config.
 */
export class ConfigReader {
  readonly issues: ConfigIssue[] = [];

  /** Records a problem at `path`. */
  issue(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  /** Throws a {@link ConfigError} listing every recorded problem, if there is one. */
  throwIfInvalid(): void {
    if (this.issues.length > 0) throw new ConfigError(this.issues);
  }

  /** Returns `value` as a plain object, or records a problem and returns an empty one. */
  object(value: unknown, path: string): Record<string, unknown> {
    if (value === undefined) return {};
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.issue(path, `expected an object, got ${describe(value)}`);
      return {};
    }
    return value as Record<string, unknown>;
  }

  /** Records every key of `obj` that is not in `known`, which catches typos at start. */
  knownKeys(obj: Record<string, unknown>, known: readonly string[], path: string): void {
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) {
        this.issue(join(path, key), `unknown option; expected one of ${known.join(", ")}`);
      }
    }
  }

  number(
    obj: Record<string, unknown>,
    key: string,
    path: string,
    fallback: number,
    rule: NumberRule = {},
  ): number {
    const value = obj[key];
    if (value === undefined) return fallback;
    const at = join(path, key);
    if (typeof value !== "number" || Number.isNaN(value)) {
      this.issue(at, `expected a number, got ${describe(value)}`);
      return fallback;
    }
    if (rule.integer && !Number.isInteger(value)) this.issue(at, `expected a whole number, got ${value}`);
    else if (rule.min !== undefined && value < rule.min)
      this.issue(at, `must be at least ${rule.min}, got ${value}`);
    else if (rule.above !== undefined && value <= rule.above)
      this.issue(at, `must be greater than ${rule.above}, got ${value}`);
    else if (rule.max !== undefined && value > rule.max)
      this.issue(at, `must be at most ${rule.max}, got ${value}`);
    else return value;
    return fallback;
  }

  optionalNumber(
    obj: Record<string, unknown>,
    key: string,
    path: string,
    rule: NumberRule = {},
  ): number | undefined {
    return obj[key] === undefined ? undefined : this.number(obj, key, path, Number.NaN, rule);
  }

  /** Reads a {@link Duration} as milliseconds. */
  duration(
    obj: Record<string, unknown>,
    key: string,
    path: string,
    fallback: number,
    rule: NumberRule = {},
  ): number {
    const value = obj[key];
    if (value === undefined) return fallback;
    const at = join(path, key);
    let ms: number;
    try {
      ms = parseDuration(value as Duration);
    } catch (error) {
      this.issue(at, (error as Error).message);
      return fallback;
    }
    if (rule.min !== undefined && ms < rule.min)
      this.issue(at, `must be at least ${rule.min} ms, got ${ms} ms`);
    else if (rule.above !== undefined && ms <= rule.above)
      this.issue(at, `must be longer than ${rule.above} ms, got ${ms} ms`);
    else if (rule.max !== undefined && ms > rule.max)
      this.issue(at, `must be at most ${rule.max} ms, got ${ms} ms`);
    else return ms;
    return fallback;
  }

  optionalDuration(
    obj: Record<string, unknown>,
    key: string,
    path: string,
    rule: NumberRule = {},
  ): number | undefined {
    return obj[key] === undefined ? undefined : this.duration(obj, key, path, Number.NaN, rule);
  }

  boolean(obj: Record<string, unknown>, key: string, path: string, fallback: boolean): boolean {
    const value = obj[key];
    if (value === undefined) return fallback;
    if (typeof value !== "boolean") {
      this.issue(join(path, key), `expected true or false, got ${describe(value)}`);
      return fallback;
    }
    return value;
  }

  string(obj: Record<string, unknown>, key: string, path: string, fallback: string): string {
    const value = obj[key];
    if (value === undefined) return fallback;
    if (typeof value !== "string" || value.length === 0) {
      this.issue(join(path, key), `expected a non-empty string, got ${describe(value)}`);
      return fallback;
    }
    return value;
  }

  oneOf<const T extends string>(
    obj: Record<string, unknown>,
    key: string,
    path: string,
    allowed: readonly T[],
    fallback: T,
  ): T {
    const value = obj[key];
    if (value === undefined) return fallback;
    if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
      this.issue(
        join(path, key),
        `expected one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${describe(value)}`,
      );
      return fallback;
    }
    return value as T;
  }

  /** Reads the `clock` option: a {@link Clock}, or the system clock when absent. */
  clock(obj: Record<string, unknown>, key: string, path: string): Clock {
    const value = obj[key];
    if (value === undefined) return systemClock;
    const clock = value as Partial<Clock> | null;
    if (
      typeof clock !== "object" ||
      clock === null ||
      typeof clock.now !== "function" ||
      typeof clock.setTimeout !== "function" ||
      typeof clock.clearTimeout !== "function"
    ) {
      this.issue(join(path, key), "expected a Clock with now(), setTimeout() and clearTimeout()");
      return systemClock;
    }
    return clock as Clock;
  }

  /** Reads an optional function-valued option (predicates, backoff functions). */
  fn<F extends (...args: never[]) => unknown>(
    obj: Record<string, unknown>,
    key: string,
    path: string,
  ): F | undefined {
    const value = obj[key];
    if (value === undefined) return undefined;
    if (typeof value !== "function") {
      this.issue(join(path, key), `expected a function, got ${describe(value)}`);
      return undefined;
    }
    return value as F;
  }
}

/** Joins a config path and a key with a dot, leaving the key alone at the root. */
export function join(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return path === "" ? key : `${path}.${key}`;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `"${value}"`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}
