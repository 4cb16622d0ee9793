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
    const names = new Set<string>();
    let enumerated = false;
    const recorder: TextMapGetter<unknown> = {
      keys: () => {
        enumerated = true;
        return [];
      },
      get: (_carrier, key) => {
        names.add(key);
        return undefined;
      },
    };
    try {
      const extracted = propagator.extract(ROOT_CONTEXT, {}, recorder);
      return enumerated || extracted !== ROOT_CONTEXT ? undefined : new PropagationHeaders(names);
    } catch {
      return undefined;
    }
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
