/**
 * Plain callbacks after a delay, for the engine's one alarm (`engine/Sessions.ts`): cheaper than
 * `Effect.timeout`, which forks and joins two fibers per wait.
 * One alarm fiber sleeps until the earliest timer; since timers are mostly set later than the ones before them
 * and cancelled when the answers come, a new alarm is rarely needed. It sleeps on the Effect clock, so
 * `TestClock` drives it.
 */
import { Context, Effect, FiberSet, Layer } from "effect"

export interface TimersShape {
  /** Calls `f` once `ms` have passed, unless the returned cancel is called first. */
  readonly after: (ms: number, f: () => void) => () => void
}

export class Timers extends Context.Tag("makuo/Timers")<Timers, TimersShape>() {}

interface Timer {
  readonly at: number
  readonly f: () => void
}

export const make = Effect.gen(function*() {
  const clock = yield* Effect.clock
  const run = yield* FiberSet.runtime(yield* FiberSet.make())<never>()
  const timers = new Set<Timer>()
  /** When the armed alarm rings; a superseded one still rings, harmlessly. */
  let alarm = Infinity

  const arm = (at: number) => {
    alarm = at
    run(Effect.zipRight(Effect.sleep(Math.max(0, at - clock.unsafeCurrentTimeMillis())), Effect.sync(() => ring(at))))
  }

  const ring = (at: number) => {
    if (at === alarm) alarm = Infinity
    const now = clock.unsafeCurrentTimeMillis()
    for (const t of timers) {
      if (t.at > now) continue
      timers.delete(t)
      t.f()
    }
    let next = Infinity
    for (const t of timers) next = Math.min(next, t.at)
    if (next < alarm) arm(next)
  }

  return Timers.of({
    after: (ms, f) => {
      const t: Timer = { at: clock.unsafeCurrentTimeMillis() + ms, f }
      timers.add(t)
      if (t.at < alarm) arm(t.at)
      return () => void timers.delete(t)
    }
  })
})

export const layer = Layer.scoped(Timers, make)
