const segment = String.raw`[^.[\]'",\s]+`;
const bracket = String.raw`\[(?:"[^"]*"|'[^']*'|\d+|\*)\]`;
const pathSyntax = new RegExp(`^(?:${segment}|${bracket})(?:\\.${segment}|${bracket})*$`);

/**
 * True when `path` has the syntax of a pino `redact` path: dot-separated keys, bracketed quoted
 * keys for names with dashes, `*` wildcards (`body.password`, `user["api-key"]`, `*.token`).
 */
export function isRedactPath(path: string): boolean {
  return pathSyntax.test(path);
}
