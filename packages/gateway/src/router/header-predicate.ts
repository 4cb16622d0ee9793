import { isValidToken } from "./header-safety.js";
import type { HeaderMatchSpec, RequestHeaders } from "./route-match-spec.js";

const PRESENT = 0;
const ABSENT = 1;
const EXACT = 2;
const REGEX = 3;

/** Builds a {@link HeaderPredicate} from its configuration; throws an `Error` saying what is wrong. */
export function headerPredicate(spec: HeaderMatchSpec): HeaderPredicate {
  if (!isValidToken(spec.name)) throw new Error(`header name "${spec.name}" is not a valid HTTP field name`);
  const name = spec.name.toLowerCase();
  const given = (spec.exact !== undefined ? 1 : 0) + (spec.regex !== undefined ? 1 : 0);
  if (given > 1) throw new Error(`header "${name}": give "exact" or "regex", not both`);
  if (spec.present === false && given > 0)
    throw new Error(`header "${name}": "present: false" takes no value`);
  if (spec.exact !== undefined) return new HeaderPredicate(name, EXACT, spec.exact, undefined);
  if (spec.regex !== undefined) {
    let regex: RegExp;
    try {
      // Compiled alone first so that "a)|(b" cannot escape the anchoring group.
      new RegExp(spec.regex);
      regex = new RegExp(`^(?:${spec.regex})$`);
    } catch (error) {
      throw new Error(`header "${name}": bad regex: ${(error as Error).message}`);
    }
    return new HeaderPredicate(name, REGEX, "", regex);
  }
  return new HeaderPredicate(name, spec.present === false ? ABSENT : PRESENT, "", undefined);
}

/** A compiled condition on one request header. */
export class HeaderPredicate {
  /** Lower-case header name. */
  readonly name: string;
  private readonly mode: number;
  private readonly value: string;
  private readonly regex: RegExp | undefined;

  /** @internal Use {@link headerPredicate}. */
  constructor(name: string, mode: number, value: string, regex: RegExp | undefined) {
    this.name = name;
    this.mode = mode;
    this.value = value;
    this.regex = regex;
  }

  /** True when the request's headers satisfy the condition. */
  test(headers: RequestHeaders): boolean {
    const actual = headers[this.name];
    // Typeof checks, not `!== undefined`: a plain headers object inherits `constructor` & co.
    const isString = typeof actual === "string";
    const present = isString || Array.isArray(actual);
    if (this.mode === PRESENT) return present;
    if (this.mode === ABSENT) return !present;
    if (isString) return this.one(actual);
    if (!present) return false;
    for (const value of actual as readonly unknown[])
      if (typeof value === "string" && this.one(value)) return true;
    return false;
  }

  private one(value: string): boolean {
    return this.mode === EXACT ? value === this.value : this.regex!.test(value);
  }
}
