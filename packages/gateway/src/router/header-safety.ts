// https://www.rfc-editor.org/rfc/rfc9110#section-5.6.2 tchar.
const tcharTable = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  tcharTable[c.charCodeAt(0)] = 1;
}

/**
 * True when `value` is an RFC 9110 token (§5.6.2): a non-empty run of `tchar`. Header names
 * and methods are tokens; anything else must not reach the wire as one.
 */
export function isValidToken(value: string): boolean {
  const length = value.length;
  if (length === 0) return false;
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 128 || tcharTable[c] === 0) return false;
  }
  return true;
}

/**
 * True when `value` is an RFC 9110 field-value (§5.5): visible ASCII, obs-text (0x80–0xFF),
 * and SP/HTAB only between other characters — so no CR, LF, NUL or other control character,
 * no leading or trailing whitespace, and nothing above 0xFF (which Node would refuse to write).
 * The empty string is valid. Use it on every value the gateway itself puts into a header
 * (a rewritten host, a value taken from path parameters) to refuse header injection.
 */
export function isValidHeaderValue(value: string): boolean {
  const length = value.length;
  if (length === 0) return true;
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0x20 && c !== 0x7f && c <= 0xff) continue;
    if (c === 0x20 || c === 0x09) {
      if (i === 0 || i === length - 1) return false;
      continue;
    }
    return false;
  }
  return true;
}
