/**
 * What a KV key may be (README.md, "KV"): 1–512 of `A-Z a-z 0-9 . _ ~ / -`, no leading `/`, no `..`
 * segment.
 */
export const kvKeyRule = Object.freeze({ maxLength: 512, pattern: /^[A-Za-z0-9._~/-]+$/ });

/** Why `key` is not a valid KV key, or `undefined` when it is one. */
export function kvKeyProblem(key: string): string | undefined {
  if (key.length === 0) return "must not be empty";
  if (key.length > kvKeyRule.maxLength) return `at most ${kvKeyRule.maxLength} characters, got ${key.length}`;
  if (!kvKeyRule.pattern.test(key)) return "only A-Z a-z 0-9 . _ ~ / - are allowed";
  if (key.startsWith("/")) return "must not start with /";
  if (key.split("/").includes("..")) return 'must not contain a ".." segment';
  return undefined;
}

/** Why `prefix` is not a valid KV prefix (as a key, but it may be empty), or `undefined`. */
export function kvPrefixProblem(prefix: string): string | undefined {
  return prefix === "" ? undefined : kvKeyProblem(prefix);
}
