import type { ConfigReader } from "@flotilla/resilience";
import type { RandomSource } from "./seeded-random.js";

/** Options every randomised balancer takes. */
export interface RandomOption {
  /** Uniform numbers in `[0, 1)` (default `Math.random`); pass {@link seededRandom} for reproducible picks. */
  readonly random?: RandomSource;
}

/** Reads the `random` option of a balancer's options object. */
export function readRandom(reader: ConfigReader, obj: Record<string, unknown>, path: string): RandomSource {
  return reader.fn<RandomSource>(obj, "random", path) ?? Math.random;
}

/** Joins a config path and a key with a dot, leaving the key alone at the root. */
export function joinPath(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}
