import {
  type CryptoKey,
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type FetchImplementation,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
} from "jose";
import { AuthenticationError, AuthFailure } from "./authentication-error.js";
import type { WallClock } from "./wall-clock.js";

/** Options of {@link remoteKeySet}, durations in milliseconds. */
export interface RemoteKeySetOptions {
  readonly timeoutMs: number;
  readonly cooldownMs: number;
  readonly cacheMaxAgeMs: number;
  readonly clock: WallClock;
}

/** Resolves the verification key of a JWS, as `jwtVerify` takes it. */
export type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/** Counters of a {@link RemoteKeySet}, for metrics. */
export interface RemoteKeySetSnapshot {
  /** JWKS requests started. */
  readonly fetches: number;
  /** JWKS requests that did not produce a key set (network error, timeout, non-200, bad JSON). */
  readonly failures: number;
}

/** After a failed JWKS fetch, requests within this window do not start another one. */
const failedFetchBackoffMs = 1000;

// Errors of a key look-up in a fetched set; anything else from the remote set is a failed fetch.
const keyMatchCodes: ReadonlySet<unknown> = new Set([
  "ERR_JWKS_NO_MATCHING_KEY",
  "ERR_JWKS_MULTIPLE_MATCHING_KEYS",
  "ERR_JOSE_NOT_SUPPORTED",
  "ERR_JOSE_ALG_NOT_ALLOWED",
]);

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isKeySetLike(value: unknown): value is JSONWebKeySet {
  const keys = (value as { keys?: unknown } | null)?.keys;
  return Array.isArray(keys) && keys.every((key) => typeof key === "object" && key !== null);
}

/**
 * A JWKS endpoint's keys: jose's `createRemoteJWKSet` (fetches shared by concurrent requests,
 * refetch on an unknown `kid` at most once per `cooldownMs`, refetch after `cacheMaxAgeMs`),
 * plus stale-if-error: when a fetch fails, the last key set fetched keeps verifying, so a short
 * outage of the identity provider does not lock every client out. With no key set at all a
 * request fails with {@link AuthFailure.KeySetUnavailable}. After a failed fetch, requests for
 * the next second do not start another (jose would start one per request while the endpoint is down).
 */
export function remoteKeySet(url: URL, options: RemoteKeySetOptions): RemoteKeySet {
  return new RemoteKeySet(url, options);
}

/** See {@link remoteKeySet}. */
export class RemoteKeySet {
  readonly #remote: KeyResolver;
  readonly #clock: WallClock;
  #failedAt = Number.NEGATIVE_INFINITY;
  #fetches = 0;
  #failures = 0;
  #lastKeySet: JSONWebKeySet | undefined;
  #stale: KeyResolver | undefined;
  #staleOf: JSONWebKeySet | undefined;

  constructor(url: URL, options: RemoteKeySetOptions) {
    this.#clock = options.clock;
    const fetchKeySet: FetchImplementation = async (href, init) => {
      this.#fetches++;
      try {
        const response = await fetch(href, init);
        if (response.status !== 200) {
          this.#failures++;
          return response;
        }
        // Read here to keep a copy for stale-if-error; jose parses its own copy of the text.
        const text = await response.text();
        const parsed = parseJson(text);
        if (isKeySetLike(parsed)) this.#lastKeySet = parsed;
        else this.#failures++;
        return new Response(text, { status: 200, headers: response.headers });
      } catch (error) {
        this.#failures++;
        throw error;
      }
    };
    this.#remote = createRemoteJWKSet(url, {
      timeoutDuration: options.timeoutMs,
      cooldownDuration: options.cooldownMs,
      cacheMaxAge: options.cacheMaxAgeMs,
      [customFetch]: fetchKeySet,
    });
  }

  /** The key for a token's header: `jwtVerify`'s key argument. */
  readonly resolve: KeyResolver = async (header, token) => {
    if (this.#clock.now() - this.#failedAt < failedFetchBackoffMs)
      return this.#fromStale(header, token, undefined);
    try {
      return await this.#remote(header, token);
    } catch (error) {
      if (keyMatchCodes.has((error as { code?: unknown } | null)?.code)) throw error;
      this.#failedAt = this.#clock.now();
      return this.#fromStale(header, token, error);
    }
  };

  /** Counters for metrics. */
  snapshot(): RemoteKeySetSnapshot {
    return { fetches: this.#fetches, failures: this.#failures };
  }

  #fromStale(header: JWSHeaderParameters, token: FlattenedJWSInput, cause: unknown): Promise<CryptoKey> {
    const keySet = this.#lastKeySet;
    if (keySet === undefined) throw new AuthenticationError(AuthFailure.KeySetUnavailable, { cause });
    if (this.#stale === undefined || this.#staleOf !== keySet) {
      this.#staleOf = keySet;
      this.#stale = createLocalJWKSet(keySet);
    }
    return this.#stale(header, token);
  }
}
