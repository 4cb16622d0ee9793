/** What the registry says about one instance. */
export interface InstanceHealth {
  readonly status: string;
  readonly port: number;
  readonly address: string;
}

interface InstancesAnswer {
  readonly instances: readonly { id: string; status: string; port: number; address: string }[];
}

/**
 * Every instance of `services` the registry knows, in any state, by instance id. Services whose
 * query fails are left out (the caller treats them as unknown).
 */
export async function registryHealth(
  registryUrl: string,
  services: readonly string[],
  timeoutMs = 2_000,
): Promise<Map<string, InstanceHealth>> {
  const health = new Map<string, InstanceHealth>();
  await Promise.all(
    services.map(async (service) => {
      try {
        const res = await fetch(`${registryUrl}/v1/services/${encodeURIComponent(service)}?status=any`, {
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (!res.ok) {
          await res.body?.cancel();
          return;
        }
        const body = (await res.json()) as InstancesAnswer;
        for (const i of body.instances)
          health.set(i.id, { status: i.status, port: i.port, address: i.address });
      } catch {
        // Unknown this round.
      }
    }),
  );
  return health;
}
