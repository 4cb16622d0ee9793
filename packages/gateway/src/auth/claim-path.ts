/** Reads one claim from verified JWT claims. */
export type ClaimReader = (claims: Readonly<Record<string, unknown>>) => unknown;

/**
 * A reader for a dotted claim path (`realm_access.roles`), split once here instead of per token.
 * A top-level claim named by the whole path wins, so namespaced claims such as
 * `https://example.com/roles` are found too. Only own properties are followed.
 */
export function claimPath(path: string): ClaimReader {
  const segments = path.split(".");
  return (claims) => {
    if (Object.hasOwn(claims, path)) return claims[path];
    let value: unknown = claims;
    for (const segment of segments) {
      if (
        typeof value !== "object" ||
        value === null ||
        Array.isArray(value) ||
        !Object.hasOwn(value, segment)
      ) {
        return undefined;
      }
      value = (value as Record<string, unknown>)[segment];
    }
    return value;
  };
}

/** The non-empty strings of a claim that is an array, or the claim split at `separator` when a string. */
export function claimStrings(value: unknown, separator: RegExp | undefined): readonly string[] {
  if (typeof value === "string") {
    if (separator === undefined) return value === "" ? [] : [value];
    return value.split(separator).filter((item) => item !== "");
  }
  if (!Array.isArray(value)) return [];
  return value.filter((item): item is string => typeof item === "string" && item !== "");
}
