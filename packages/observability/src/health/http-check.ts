import type { HealthCheck } from "./health-check.js";
import { HealthCheckFailedError } from "./health-error.js";

/** Options of {@link httpCheck}. */
export interface HttpCheckOptions {
  /** Extra request headers (an auth token for a protected health endpoint). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Which statuses pass. Default 200–299. */
  readonly ok?: (status: number) => boolean;
  /** The fetch to use. Default the global `fetch` (undici). */
  readonly fetch?: typeof fetch;
}

/**
 * A check that GETs `url` (typically a dependency's `/health/ready`) and passes on a 2xx answer.
 * Any other status fails with `GET <url> answered 503`; a connection error fails with its cause
 * (`connect ECONNREFUSED …`). The request is aborted when the check times out. Redirects are not
 * followed: a health endpoint that redirects is misconfigured.
 */
export function httpCheck(url: string | URL, options: HttpCheckOptions = {}): HealthCheck {
  const target = new URL(url);
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    throw new TypeError(`httpCheck: expected an http: or https: URL, got ${target.protocol}`);
  }
  const ok = options.ok ?? ((status: number) => status >= 200 && status < 300);
  const doFetch = options.fetch ?? fetch;
  const headers = {
    accept: "application/health+json, application/json;q=0.9, */*;q=0.1",
    ...options.headers,
  };
  return async ({ signal }) => {
    let response: Response;
    try {
      response = await doFetch(target, { headers, signal, redirect: "manual" });
    } catch (error) {
      // fetch reports every network failure as "fetch failed"; the reason is in its cause.
      const cause = (error as { cause?: unknown }).cause;
      if (signal.aborted || !(cause instanceof Error)) throw error;
      throw cause;
    }
    await response.body?.cancel();
    if (!ok(response.status)) {
      throw new HealthCheckFailedError(`GET ${target.href} answered ${response.status}`);
    }
  };
}
