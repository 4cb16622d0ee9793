/**
 * The transport header a saga step's compensation command carries: the idempotency key of the
 * invocation it undoes (`sagaStepKey(sagaId, step, "invoke")`). `commandStep` sets it on every
 * compensation it sends. `idempotentCommand` uses it to hand the handler what that invocation
 * answered here — so a step whose outcome was uncertain (`ctx.result` undefined at the
 * orchestrator) can still be undone — and to fence an invocation that has not arrived yet, so it
 * is refused instead of acting after its compensation.
 */
export const sagaCompensatesHeader = "flotilla-saga-compensates";
