import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, TestClock } from "effect"
import * as Timers from "../../src/transfer/Timers.js"

const spec = fc.record({ setAt: fc.integer({ min: 0, max: 500 }), ms: fc.integer({ min: 0, max: 1000 }), cancelAt: fc.option(fc.integer({ min: 0, max: 1500 })) })

describe("Timers", () => {
  it.scoped.prop(
    "each timer fires once, exactly at its time, unless cancelled before — whatever order they are set in",
    [fc.array(spec, { maxLength: 30 })],
    ([specs]) =>
      Effect.gen(function*() {
        const timers = yield* Timers.make
        const clock = yield* Effect.clock
        const fired = new Map<number, Array<number>>()
        const cancels = new Map<number, () => void>()
        // every set and cancel at its instant, in time order (a cancel after a set at the same instant)
        const actions = specs.flatMap((s, i) => [
          { at: s.setAt, rank: 0, run: () => cancels.set(i, timers.after(s.ms, () => fired.set(i, [...(fired.get(i) ?? []), clock.unsafeCurrentTimeMillis()]))) },
          ...(s.cancelAt === null ? [] : [{ at: s.setAt + s.cancelAt, rank: 1, run: () => cancels.get(i)!() }])
        ]).sort((a, b) => a.at - b.at || a.rank - b.rank)
        for (const a of actions) {
          yield* TestClock.adjust(a.at - clock.unsafeCurrentTimeMillis())
          a.run()
        }
        yield* TestClock.adjust(3000)
        // a cancel at the very instant the timer is due comes too late: the clock reaching it fired the timer
        specs.forEach((s, i) => expect(fired.get(i) ?? []).toEqual(s.cancelAt !== null && s.cancelAt < s.ms ? [] : [s.setAt + s.ms]))
      }),
    { fastCheck: { numRuns: 40 } }
  )
})
