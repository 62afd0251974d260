import { Effect } from "effect"

/**
 * Lets the event loop run its I/O phase (Effect.yieldNow stays on the microtask queue, where sockets are never
 * polled): long loops call it so that datagrams and control clients are served meanwhile.
 */
export const yieldToEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})
