import { ROOT_CONTEXT, type TextMapGetter, type TextMapPropagator } from "@opentelemetry/api";

/**
 * The header names a propagator reads when it extracts, found by having it extract from an empty
 * carrier with a getter that records what it is asked for. A request that carries none of them
 * makes a deterministic propagator take the same path as the empty carrier and return its base
 * context untouched, so extraction can be skipped for it — and with it the `req.headers` object,
 * which Node builds on first access. {@link PropagationHeaders.of} gives up (returns `undefined`)
 * on a propagator that enumerates the carrier's keys, or that changes the context even when given
 * nothing.
 * @internal
 */
export class PropagationHeaders {
  readonly #names: ReadonlySet<string>;
  /** Whether a header name starting with each ASCII code (lower-cased) can be one of them. */
  readonly #firstCodes = new Uint8Array(128);

  private constructor(names: ReadonlySet<string>) {
    this.#names = names;
    for (const name of names) {
      const code = name.charCodeAt(0);
      if (code < 128) this.#firstCodes[code] = 1;
    }
  }

  /** The headers `propagator` reads, or `undefined` when skipping its extraction is not safe. */
  static of(propagator: TextMapPropagator): PropagationHeaders | undefined {
    const read = PropagationHeaders.#record(propagator, {});
    return read === undefined || read.extracted !== ROOT_CONTEXT
      ? undefined
      : new PropagationHeaders(read.names);
  }

  /**
   * The headers `propagator` reads from a carrier that holds `present` (and nothing else), which
   * includes those it reads only because one of them is there (`tracestate` after `traceparent`);
   * `undefined` when it enumerates the carrier's keys.
   */
  static readWith(
    propagator: TextMapPropagator,
    present: Readonly<Record<string, string>>,
  ): PropagationHeaders | undefined {
    const read = PropagationHeaders.#record(propagator, present);
    return read === undefined ? undefined : new PropagationHeaders(read.names);
  }

  static #record(
    propagator: TextMapPropagator,
    present: Readonly<Record<string, string>>,
  ): { names: Set<string>; extracted: unknown } | undefined {
    const names = new Set<string>();
    let enumerated = false;
    const recorder: TextMapGetter<unknown> = {
      keys: () => {
        enumerated = true;
        return [];
      },
      get: (_carrier, key) => {
        names.add(key);
        return present[key];
      },
    };
    try {
      const extracted = propagator.extract(ROOT_CONTEXT, {}, recorder);
      return enumerated ? undefined : { names, extracted };
    } catch {
      return undefined;
    }
  }

  /**
   * True when `carrier` (an object with lower-case header names, read as the API's default
   * getter reads it: by exact name) has `name` and none of the other headers.
   */
  onlyHas(carrier: Readonly<Record<string, unknown>>, name: string): boolean {
    if (carrier[name] === undefined) return false;
    for (const other of this.#names) if (other !== name && carrier[other] !== undefined) return false;
    return true;
  }

  /**
   * True when `rawHeaders` (`IncomingMessage.rawHeaders`: name, value, name, value, …) has one of
   * the headers, in any case, as `req.headers` (whose names Node lower-cases) would.
   */
  presentIn(rawHeaders: readonly string[]): boolean {
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      const code = name.charCodeAt(0);
      const lower = code >= 65 && code <= 90 ? code + 32 : code;
      if (lower < 128 && this.#firstCodes[lower] === 1 && this.#names.has(name.toLowerCase())) return true;
    }
    return false;
  }
}
