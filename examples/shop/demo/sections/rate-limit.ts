import type { TourContext } from "../tour-context.ts";

const burst = 40;

/**
 * Per-user rate limits: a new user sends more requests at once than the `per-user` policy's
 * burst (30) allows; the excess gets clean 429 problems with `Retry-After`, while another user,
 * with a budget of its own, is unaffected.
 */
export async function rateLimit(ctx: TourContext): Promise<void> {
  const { out, gateway } = ctx;
  out.section(
    3,
    "Per-user rate limit",
    "GET /api/me has the `per-user` policy: 120 a minute with a burst of 30, keyed by the token's user.\n" +
      `A new user sends ${burst} requests at once; then another user sends one.`,
  );
  const greedy = await ctx.newUser("greedy");
  const answers = await Promise.all(
    Array.from({ length: burst }, () => gateway.call("/api/me", { token: greedy.token })),
  );
  const ok = answers.filter((a) => a.status === 200).length;
  const limited = answers.filter((a) => a.status === 429);
  const other = answers.length - ok - limited.length;
  out.info(`${greedy.email}: ${ok} × 200, ${limited.length} × 429${other > 0 ? `, ${other} other` : ""}`);
  const first = limited[0];
  if (first !== undefined) {
    out.request("GET", "/api/me", first, `content-type: ${first.headers.get("content-type")}`);
    const problem = first.body as { code?: string; detail?: string };
    out.info(`  ${problem.code}: ${problem.detail}`);
    out.info(
      `  retry-after: ${first.headers.get("retry-after")}   ratelimit: ${first.headers.get("ratelimit")}   ratelimit-policy: ${first.headers.get("ratelimit-policy")}`,
    );
  }
  const neighbour = await gateway.call("/api/me", { token: ctx.shopper.token });
  out.request("GET", "/api/me", neighbour, `as ${ctx.shopper.email}: a budget of its own`);

  const clean = limited.every(
    (a) =>
      (a.headers.get("content-type") ?? "").startsWith("application/problem+json") &&
      a.headers.get("retry-after") !== null,
  );
  const passed = limited.length > 0 && clean && other === 0 && neighbour.status === 200;
  out.verdict(
    passed,
    passed
      ? `${limited.length} of ${burst} requests refused with 429 problem+json and Retry-After; the other user got 200`
      : limited.length === 0
        ? `no request of the ${burst} was refused`
        : !clean
          ? "a 429 was not a problem+json with Retry-After"
          : `the other user got ${neighbour.status}, or ${other} requests failed otherwise`,
  );
}
