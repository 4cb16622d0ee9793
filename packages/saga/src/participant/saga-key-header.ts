/**
 * The transport header that carries a saga command's idempotency key (`sagaStepKey(…)`) beside
 * its envelope. `idempotentCommand` stores replies under it, so a command re-sent with another
 * envelope id but the same key is still answered with the first reply. Orchestrators publishing
 * a step's command through an outbox set it with `headers: { [sagaKeyHeader]: key }`.
 */
export const sagaKeyHeader = "flotilla-saga-key";
