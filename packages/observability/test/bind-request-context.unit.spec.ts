import { EventEmitter } from "node:events";
import { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import { context, createContextKey, ROOT_CONTEXT } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bindRequestContext } from "../src/tracing/bind-request-context.js";

const key = createContextKey("request");
const manager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  context.setGlobalContextManager(manager.enable());
});
afterAll(() => {
  manager.disable();
  context.disable();
});

function message(): IncomingMessage {
  return new IncomingMessage(new Socket());
}

/** A new message bound to a context whose `key` is `value`. */
function boundMessage(value: string): IncomingMessage {
  const req = message();
  bindRequestContext(req, ROOT_CONTEXT.setValue(key, value));
  return req;
}

/** The context value each call of the returned listener ran in. */
function recorder() {
  const calls: unknown[] = [];
  return { calls, listener: () => calls.push(context.active().getValue(key)) };
}

describe("bindRequestContext", () => {
  it("runs on, addListener and prependListener listeners in the request's context", () => {
    const req = boundMessage("request-1");
    const on = recorder();
    const add = recorder();
    const prepend = recorder();
    context.with(ROOT_CONTEXT.setValue(key, "elsewhere"), () => {
      req.on("probe", on.listener);
      req.addListener("probe", add.listener);
      req.prependListener("probe", prepend.listener);
    });
    req.emit("probe");
    req.emit("probe");
    expect([on.calls, add.calls, prepend.calls]).toEqual([
      ["request-1", "request-1"],
      ["request-1", "request-1"],
      ["request-1", "request-1"],
    ]);
  });

  it("runs once and prependOnceListener listeners once, in the request's context", () => {
    const req = boundMessage("request-2");
    const once = recorder();
    const prependOnce = recorder();
    req.once("probe", once.listener);
    req.prependOnceListener("probe", prependOnce.listener);
    req.emit("probe");
    req.emit("probe");
    expect([once.calls, prependOnce.calls]).toEqual([["request-2"], ["request-2"]]);
    expect(req.listenerCount("probe")).toBe(0);
  });

  it("removes a bound listener, once or not, by the function that was added, and lists that function", () => {
    const req = boundMessage("request-3");
    const kept = recorder();
    const removed = recorder();
    const removedOnce = recorder();
    req.on("probe", kept.listener);
    req.on("probe", removed.listener);
    req.once("probe", removedOnce.listener);
    expect(req.listeners("probe")).toEqual([kept.listener, removed.listener, removedOnce.listener]);
    req.removeListener("probe", removed.listener);
    req.off("probe", removedOnce.listener);
    req.emit("probe");
    expect([kept.calls, removed.calls, removedOnce.calls]).toEqual([["request-3"], [], []]);
  });

  it("binds an emitter that is not an IncomingMessage (an HTTP/2 compatibility request) as context.bind does", () => {
    const req = new EventEmitter() as unknown as IncomingMessage;
    bindRequestContext(req, ROOT_CONTEXT.setValue(key, "http2-request"));
    const on = recorder();
    context.with(ROOT_CONTEXT.setValue(key, "elsewhere"), () => req.on("probe", on.listener));
    req.emit("probe");
    req.removeListener("probe", on.listener);
    req.emit("probe");
    expect(on.calls).toEqual(["http2-request"]);
  });

  it("leaves an unbound message as Node has it", () => {
    bindRequestContext(message(), ROOT_CONTEXT.setValue(key, "another request"));
    const req = message();
    const on = recorder();
    const once = recorder();
    context.with(ROOT_CONTEXT.setValue(key, "caller"), () => {
      req.on("probe", on.listener);
      req.once("probe", once.listener);
    });
    expect(req.listeners("probe")).toEqual([on.listener, once.listener]);
    req.emit("probe");
    req.emit("probe");
    expect([on.calls, once.calls]).toEqual([[undefined, undefined], [undefined]]);
    expect(() => req.on("probe", "not a function" as unknown as () => void)).toThrow(TypeError);
  });
});
