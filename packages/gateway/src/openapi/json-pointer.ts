import { isJsonObject } from "./openapi-document.js";

/** A JSON Pointer token (RFC 6901, https://www.rfc-editor.org/rfc/rfc6901#section-3) for `name`. */
export function encodePointerToken(name: string): string {
  return name.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** The name a JSON Pointer token in a URI fragment stands for: percent-decoded, then `~1`, `~0` undone. */
export function decodePointerToken(token: string): string {
  let text = token;
  try {
    text = decodeURIComponent(token);
  } catch {
    // A stray `%` is taken literally.
  }
  return text.replaceAll("~1", "/").replaceAll("~0", "~");
}

/**
 * The value a local reference (`#/components/schemas/User`) points to inside `document`, or
 * `undefined` when it is not local or points nowhere.
 */
export function resolveLocalRef(document: unknown, ref: string): unknown {
  if (!ref.startsWith("#")) return undefined;
  if (ref === "#" || ref === "#/") return document;
  if (!ref.startsWith("#/")) return undefined;
  let value: unknown = document;
  for (const token of ref.slice(2).split("/")) {
    const name = decodePointerToken(token);
    if (Array.isArray(value)) value = value[Number(name)];
    else if (isJsonObject(value) && Object.hasOwn(value, name)) value = value[name];
    else return undefined;
  }
  return value;
}
