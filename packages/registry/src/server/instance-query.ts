import semver from "semver";
import type { HealthStatus, InstanceRecord } from "../registration.js";
import type { RequestIssue } from "../registry-error.js";

/** Which statuses `status=` selects; `default` is passing and warning (the instances in rotation). */
export type StatusFilter = "default" | HealthStatus | "any";

/** The filters of `GET /v1/services/{service}` and its stream (README.md, "Discovery reads"). */
export interface InstanceQuery {
  readonly version: semver.Range | undefined;
  readonly tags: readonly string[];
  readonly zone: string | undefined;
  readonly status: StatusFilter;
  /** The filters written canonically: equal keys select equal instances. */
  readonly key: string;
}

const statuses: readonly string[] = ["passing", "warning", "critical", "any"];

/**
 * Parses filters and caches parsed semver ranges, since clients poll with the same few ranges.
 * Bounded: the cache starts over when it holds `maxRanges`.
 */
export class InstanceQueryParser {
  readonly #ranges = new Map<string, semver.Range | null>();
  readonly #maxRanges: number;

  constructor(maxRanges = 1024) {
    this.#maxRanges = maxRanges;
  }

  /** Reads `version`, `tag` (repeatable), `zone` and `status`, collecting bad ones into `issues`. */
  parse(query: URLSearchParams, issues: RequestIssue[]): InstanceQuery {
    const versionText = query.get("version");
    let version: semver.Range | undefined;
    if (versionText !== null && versionText.trim() !== "") {
      const range = this.#range(versionText);
      if (range === null) {
        issues.push({
          path: "version",
          message: `expected an npm semver range such as ^1.2, got "${versionText}"`,
        });
      } else {
        version = range;
      }
    }
    const tags = [...new Set(query.getAll("tag").filter((t) => t !== ""))].sort();
    const zone = query.get("zone") ?? undefined;
    const statusText = query.get("status");
    let status: StatusFilter = "default";
    if (statusText !== null) {
      if (statuses.includes(statusText)) status = statusText as StatusFilter;
      else
        issues.push({
          path: "status",
          message: `expected passing, warning, critical or any, got "${statusText}"`,
        });
    }
    const key = `${version?.range ?? ""}\u0000${tags.join("\u0001")}\u0000${zone ?? ""}\u0000${status}`;
    return { version, tags, zone, status, key };
  }

  #range(text: string): semver.Range | null {
    let range = this.#ranges.get(text);
    if (range === undefined) {
      try {
        range = new semver.Range(text, { includePrerelease: true });
      } catch {
        range = null;
      }
      if (this.#ranges.size >= this.#maxRanges) this.#ranges.clear();
      this.#ranges.set(text, range);
    }
    return range;
  }
}

/** True when `record` passes every filter of `query`. */
export function matchesQuery(query: InstanceQuery, record: InstanceRecord): boolean {
  switch (query.status) {
    case "default":
      if (record.status === "critical") return false;
      break;
    case "any":
      break;
    default:
      if (record.status !== query.status) return false;
  }
  if (query.zone !== undefined && record.zone !== query.zone) return false;
  for (const tag of query.tags) if (!record.tags.includes(tag)) return false;
  if (query.version !== undefined) {
    try {
      if (!query.version.test(record.version)) return false;
    } catch {
      return false;
    }
  }
  return true;
}
