import type { ShopUser } from "../gateway.ts";
import type { HttpResult } from "../http-call.ts";
import type { TourContext } from "../tour-context.ts";

const maxCalls = 160;
const batchSize = 10;
// Each caller stays within the per-user burst (30, one spent on logging in).
const callsPerUser = 20;
const dashboardTries = 16;

interface Problem {
  readonly code?: string;
  readonly detail?: string;
}

function isBreakerOpen(answer: HttpResult): boolean {
  const problem = answer.body as Problem | undefined;
  return answer.status === 503 && (problem?.detail ?? "").includes("circuit breaker");
}

function symbol(answer: HttpResult): string {
  if (isBreakerOpen(answer)) return "⊘";
  if (answer.status === 200) return "·";
  if (answer.status === 429) return "r";
  if (answer.status === 504) return "t";
  return "✗";
}

/**
 * Circuit breaker and fallback on recommendations: the model fails 30 % of its calls at random;
 * the gateway's breaker on the `recommendations` route opens once half of the last 10 calls
 * failed, and then answers 503 at once without calling the model. The dashboard's
 * recommendations part has a fallback instead: a failed part becomes `{ items: [] }`.
 */
export async function circuitBreaker(ctx: TourContext): Promise<void> {
  const { out, gateway } = ctx;
  out.section(
    2,
    "Circuit breaker and fallback (recommendations)",
    "recommendations is slow (300 ms) and fails 30 % of calls (503). The gateway's breaker on\n" +
      "GET /api/recommendations opens when ≥ 50 % of the last 10 calls failed (at least 5 calls), then\n" +
      "answers 503 at once for 10 s. The tour calls it in batches of 10 (a new user every 20 calls, so\n" +
      "the per-user rate limit stays out of the way) until the breaker opens, at most 160 calls.\n" +
      "Legend: · 200   ✗ 503 from the model   t 504 timeout   r 429   ⊘ rejected by the open breaker",
  );
  const users: ShopUser[] = [];

  let calls = 0;
  let opened: HttpResult | undefined;
  const tally = new Map<string, number>();
  const deadline = Date.now() + 20_000;
  while (opened === undefined && calls < maxCalls && Date.now() < deadline) {
    const caller = Math.floor(calls / callsPerUser);
    if (users[caller] === undefined) users.push(await ctx.newUser(`breaker${caller + 1}`));
    const { token } = users[caller]!;
    const batch = await Promise.all(
      Array.from({ length: batchSize }, () => gateway.call("/api/recommendations", { token })),
    );
    calls += batch.length;
    const marks = batch.map(symbol);
    for (const mark of marks) tally.set(mark, (tally.get(mark) ?? 0) + 1);
    out.info(
      `calls ${String(calls - batch.length + 1).padStart(3)}–${String(calls).padEnd(3)}  ${marks.join(" ")}`,
    );
    opened = batch.find(isBreakerOpen);
  }
  if (calls === batchSize && tally.get("⊘") === batchSize) {
    out.info("(the breaker was still open from an earlier run: it stays open for 10 s)");
  }
  const summary = [...tally].map(([mark, count]) => `${count} ${mark}`).join(", ");
  out.info(`after ${calls} calls: ${summary}`);

  let fastAnswer: HttpResult | undefined;
  if (opened !== undefined) {
    fastAnswer = await gateway.call("/api/recommendations", { token: users[0]!.token });
    out.request("GET", "/api/recommendations", fastAnswer, "while open: no call to the model");
    const problem = fastAnswer.body as Problem | undefined;
    out.info(
      `  ${problem?.code ?? "?"}: ${problem?.detail ?? "?"} (Retry-After: ${fastAnswer.headers.get("retry-after") ?? "none"} s)`,
    );
  }

  out.info(
    "The dashboard composes profile + orders + recommendations; its recommendations part has a fallback:",
  );
  let partial: HttpResult | undefined;
  let tries = 0;
  while (partial === undefined && tries < dashboardTries) {
    const batch = await Promise.all(
      Array.from({ length: 4 }, () => gateway.call("/api/dashboard", { token: ctx.shopper.token })),
    );
    tries += batch.length;
    partial = batch.find((answer) => {
      const meta = (answer.body as { _meta?: { partial?: string[] } } | undefined)?._meta;
      return answer.status === 200 && (meta?.partial ?? []).includes("recommendations");
    });
  }
  if (partial !== undefined) {
    const body = partial.body as { recommendations: unknown; _meta: unknown; profile: { email: string } };
    out.request("GET", "/api/dashboard", partial, `(call ${tries >= 4 ? `${tries - 3}–${tries}` : tries})`);
    out.info(`  profile: ${body.profile.email}   recommendations: ${JSON.stringify(body.recommendations)}`);
    out.info(`  _meta: ${JSON.stringify(body._meta)}`);
  } else {
    out.info(`  ${tries} dashboard calls, none with a failed recommendations part`);
  }

  const ok =
    opened !== undefined && fastAnswer !== undefined && isBreakerOpen(fastAnswer) && partial !== undefined;
  out.verdict(
    ok,
    ok
      ? `the breaker was open after ${calls} calls and rejected the next call in ${fastAnswer!.ms.toFixed(0)} ms; the dashboard answered 200 with the fallback`
      : opened === undefined
        ? `the breaker did not open within ${calls} calls (the model's failures never reached 50 % of 10 calls)`
        : partial === undefined
          ? `the breaker opened, but no dashboard call showed the recommendations fallback in ${tries} tries`
          : "the breaker opened, but the next call was not rejected by it",
  );
}
