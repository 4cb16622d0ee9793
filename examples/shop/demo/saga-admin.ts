import { httpCall } from "./http-call.ts";

/** One entry of a saga's step log. */
export interface SagaStep {
  readonly step: string;
  readonly kind: "invoke" | "compensate" | string;
  readonly status: string;
  readonly attempt: number;
  readonly error: string | null;
}

/** A saga as `GET /sagas/:id` of `@flotilla/saga`'s API returns it. */
export interface SagaJson {
  readonly id: string;
  readonly type: string;
  readonly state: string;
  readonly error: string | null;
  readonly steps?: readonly SagaStep[];
}

interface RegistryInstance {
  readonly address: string;
  readonly port: number;
  readonly status: string;
}

/**
 * The orders service's admin API (`sagaApi`), found in the registry under `orders-admin` — the
 * way `flotilla saga` finds it.
 */
export class SagaAdmin {
  readonly #registryUrl: string;

  constructor(registryUrl: string) {
    this.#registryUrl = registryUrl;
  }

  /** The saga with its step log, or `undefined` when no admin instance knows it. */
  async saga(id: string): Promise<SagaJson | undefined> {
    const listed = await httpCall(`${this.#registryUrl}/v1/services/orders-admin`);
    const instances = (
      (listed.body as { instances?: RegistryInstance[] } | undefined)?.instances ?? []
    ).filter((instance) => instance.status === "passing");
    for (const instance of instances) {
      const answer = await httpCall(
        `http://${instance.address}:${instance.port}/sagas/${encodeURIComponent(id)}`,
      );
      if (answer.status === 200) return answer.body as SagaJson;
    }
    return undefined;
  }

  /** Polls until the saga reaches one of `states`, at most `timeoutMs`; returns the last one seen. */
  async waitFor(id: string, states: readonly string[], timeoutMs = 15_000): Promise<SagaJson | undefined> {
    const deadline = Date.now() + timeoutMs;
    let last: SagaJson | undefined;
    for (;;) {
      last = (await this.saga(id)) ?? last;
      if (last !== undefined && states.includes(last.state)) return last;
      if (Date.now() >= deadline) return last;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** The step log as aligned lines: `payment  invoke      failed     1  the card was declined`. */
export function formatSteps(steps: readonly SagaStep[]): string {
  const width = Math.max(4, ...steps.map((s) => s.step.length));
  return steps
    .map(
      (s) =>
        `${s.step.padEnd(width)}  ${s.kind.padEnd(10)}  ${s.status.padEnd(9)}  attempt ${s.attempt}${s.error === null ? "" : `  ${s.error}`}`,
    )
    .join("\n");
}
