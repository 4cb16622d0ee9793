import { IncomingMessage } from "node:http";
import { type Context, context } from "@opentelemetry/api";

const kRequestContext = Symbol("flotilla.tracing.requestContext");

type Listener = (...args: unknown[]) => unknown;
type AddListener = (this: IncomingMessage, event: string | symbol, listener: Listener) => IncomingMessage;
type Bindable = IncomingMessage & { [kRequestContext]?: Context | undefined };

let installed = false;

/**
 * Runs the listeners that are later added to `req` (`req.on("data", …)`, `once`, `prependListener`)
 * in `ctx`, as `context.bind(ctx, req)` does for the official instrumentation. `removeListener`,
 * `off` and `listeners` see the function that was added, the way Node's `once` wrappers work.
 *
 * Why not `context.bind(ctx, req)`: it gives the request seven own methods, so a bound request no
 * longer shares its hidden class with the requests that are not, and every `node:http` and stream
 * function that touches requests turns polymorphic or megamorphic for all of them. Here every
 * request gets the same one property (its context), and `IncomingMessage.prototype`'s `on`,
 * `addListener`, `prependListener`, `once` and `prependOnceListener` are replaced once,
 * process-wide, to read it; on an `IncomingMessage` that was not bound (a client response) they
 * behave as Node's.
 * @internal
 */
export function bindRequestContext(req: IncomingMessage, ctx: Context): void {
  if (!(req instanceof IncomingMessage)) {
    // An HTTP/2 compatibility request (`Http2ServerRequest`) has a prototype of its own.
    context.bind(ctx, req);
    return;
  }
  if (!installed) install();
  (req as Bindable)[kRequestContext] = ctx;
}

function install(): void {
  installed = true;
  const prototype = IncomingMessage.prototype as unknown as Record<
    "on" | "addListener" | "prependListener" | "once" | "prependOnceListener",
    AddListener
  >;
  const { on, prependListener } = prototype;
  const binding = (add: AddListener, once: boolean): AddListener =>
    function (this: Bindable, event, listener) {
      return add.call(this, event, bound(this, event, this[kRequestContext], listener, once));
    };
  prototype.on = binding(on, false);
  prototype.addListener = prototype.on;
  prototype.prependListener = binding(prependListener, false);
  // Node's own `once` would add its wrapper through `on` and hide the listener one level deeper
  // than `removeListener` looks; the once-wrappers here are made like Node's instead.
  prototype.once = binding(on, true);
  prototype.prependOnceListener = binding(prependListener, true);
}

/**
 * The listener to add: the given one when the request is not bound, else a wrapper that runs it
 * in `ctx` (and, for `once`, removes itself first, as Node's once-wrapper does). The wrapper's
 * `listener` property is the given function, which EventEmitter's `removeListener` and
 * `listeners()` look through.
 */
function bound(
  emitter: IncomingMessage,
  event: string | symbol,
  ctx: Context | undefined,
  listener: Listener,
  once: boolean,
): Listener {
  // A non-function is left for Node to refuse with its own error.
  if (typeof listener !== "function" || (ctx === undefined && !once)) return listener;
  let fired = false;
  const wrapper = function (this: unknown, ...args: unknown[]): unknown {
    if (once) {
      if (fired) return undefined;
      fired = true;
      emitter.removeListener(event, wrapper);
    }
    return ctx === undefined ? listener.apply(this, args) : context.with(ctx, listener, this, ...args);
  } as Listener & { listener?: Listener };
  wrapper.listener = listener;
  return wrapper;
}
