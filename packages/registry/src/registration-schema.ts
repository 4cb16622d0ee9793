import semver from "semver";
import { z } from "zod";
import { durationSchema as duration } from "./duration-schema.js";
import type { CheckDefinition, RegistrationRequest } from "./registration.js";
import type { RequestIssue } from "./registry-error.js";

/** Limits of one registration (README.md, "Instances and leases"). */
export const registrationLimits = Object.freeze({
  nameLength: 128,
  addressLength: 253,
  tags: 64,
  tagLength: 128,
  metadataEntries: 64,
  metadataKeyLength: 128,
  /** UTF-8 bytes of every metadata key and value together. */
  metadataBytes: 16 * 1024,
  checks: 8,
  minTtlMs: 1_000,
  maxTtlMs: 3_600_000,
  defaultTtlMs: 10_000,
});

const L = registrationLimits;

/** Service names and instance ids: `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`. */
export const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const name = z.string().regex(namePattern, {
  error: "expected 1 to 128 of A-Z a-z 0-9 . _ - starting with a letter or digit",
});
const address = z.string().min(1).max(L.addressLength);
const port = z.number().int().min(1).max(65535);
const kind = z.enum(["liveness", "readiness"]);

const httpUrl = z.string().refine(isHttpUrl, { error: "expected an absolute http: or https: URL" });

const timing = {
  name: z.string().min(1).max(L.nameLength).optional(),
  intervalMs: duration.optional(),
  timeoutMs: duration.optional(),
  deregisterCriticalAfterMs: duration.optional(),
};

const check = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("http"), kind: kind.optional(), url: httpUrl, ...timing }),
  z.strictObject({
    type: z.literal("tcp"),
    kind: kind.optional(),
    address: address.optional(),
    port: port.optional(),
    ...timing,
  }),
  z.strictObject({
    type: z.literal("ttl"),
    name: timing.name,
    deregisterCriticalAfterMs: timing.deregisterCriticalAfterMs,
  }),
]);

const metadata = z
  .record(z.string().min(1).max(L.metadataKeyLength), z.string())
  .superRefine((value, ctx) => {
    const entries = Object.entries(value);
    if (entries.length > L.metadataEntries) {
      ctx.addIssue({
        code: "custom",
        message: `at most ${L.metadataEntries} entries, got ${entries.length}`,
      });
      return;
    }
    let bytes = 0;
    for (const [k, v] of entries) bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
    if (bytes > L.metadataBytes) {
      ctx.addIssue({
        code: "custom",
        message: `keys and values may take at most ${L.metadataBytes} bytes, got ${bytes}`,
      });
    }
  });

const schema = z.strictObject({
  service: name,
  id: name,
  address,
  port,
  version: z
    .string()
    .refine(isVersion, { error: "expected a semver version such as 1.4.2 or 2.0.0-rc.1" })
    .optional(),
  tags: z.array(z.string().min(1).max(L.tagLength)).max(L.tags).optional(),
  metadata: metadata.optional(),
  zone: z.string().min(1).max(L.nameLength).optional(),
  weight: z.number().min(0).optional(),
  checks: z
    .array(check)
    .max(L.checks)
    .superRefine((checks, ctx) => {
      if (checks.filter((c) => c.type === "ttl").length > 1) {
        ctx.addIssue({ code: "custom", message: "at most one ttl check: the lease is the instance's TTL" });
      }
    })
    .optional(),
  ttlMs: duration
    .refine((ms) => ms >= L.minTtlMs && ms <= L.maxTtlMs, {
      error: `must be from ${L.minTtlMs} to ${L.maxTtlMs} ms`,
    })
    .optional(),
});

/** The outcome of {@link parseRegistrationRequest}. */
export type ParsedRegistration =
  | { readonly ok: true; readonly request: RegistrationRequest }
  | { readonly ok: false; readonly issues: readonly RequestIssue[] };

/**
 * Validates the body of `POST /v1/instances` (already parsed JSON) and converts its durations to
 * milliseconds. Every bad field is reported with its path: `port`, `checks[0].url`, `metadata`,
 * `version`; unknown fields are refused by name so typos do not pass silently.
 */
export function parseRegistrationRequest(body: unknown): ParsedRegistration {
  const result = schema.safeParse(body);
  if (!result.success) return { ok: false, issues: zodIssues(result.error.issues) };
  const v = result.data;
  const request: RegistrationRequest = {
    service: v.service,
    id: v.id,
    address: v.address,
    port: v.port,
    ...(v.version === undefined ? {} : { version: v.version }),
    ...(v.tags === undefined ? {} : { tags: v.tags }),
    ...(v.metadata === undefined ? {} : { metadata: v.metadata }),
    ...(v.zone === undefined ? {} : { zone: v.zone }),
    ...(v.weight === undefined ? {} : { weight: v.weight }),
    ...(v.checks === undefined ? {} : { checks: v.checks.map(withoutUndefined) }),
    ...(v.ttlMs === undefined ? {} : { ttlMs: v.ttlMs }),
  };
  return { ok: true, request };
}

/** Zod issues as `{ path, message }` with paths written `checks[0].url`. */
export function zodIssues(issues: readonly z.core.$ZodIssue[]): RequestIssue[] {
  const out: RequestIssue[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys)
        out.push({ path: formatPath([...issue.path, key]), message: "unknown field" });
    } else {
      out.push({ path: formatPath(issue.path), message: issue.message });
    }
  }
  return out;
}

/** `["checks", 0, "url"]` → `checks[0].url`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

function isHttpUrl(value: string): boolean {
  const url = URL.parse(value);
  return url !== null && (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
}

function isVersion(value: string): boolean {
  // semver.valid also takes "v1.2.3" and " 1.2.3"; an instance's version is the bare form.
  return /^\d/.test(value) && !/\s/.test(value) && semver.valid(value) !== null;
}

function withoutUndefined(check: Record<string, unknown>): CheckDefinition {
  const out: Record<string, unknown> = {};
  for (const key in check) if (check[key] !== undefined) out[key] = check[key];
  return out as unknown as CheckDefinition;
}
