import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Fiber, FastCheck as fc, Stream, TestClock } from "effect"
import { mapEffectUnordered } from "../../src/mapEffectUnordered.js"

describe("mapEffectUnordered", () => {
  it.effect.prop(
    "every element comes out once, mapped, with at most `concurrency` running at a time",
    [fc.array(fc.integer(), { maxLength: 200 }), fc.integer({ min: 1, max: 9 }), fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1 })],
    ([items, concurrency, delays]) =>
      Effect.gen(function*() {
        let running = 0
        let peak = 0
        const f = (x: number, i: number) =>
          Effect.acquireUseRelease(
            Effect.sync(() => (peak = Math.max(peak, ++running))),
            () => Effect.as(Effect.sleep(delays[i % delays.length]!), x * 2),
            () => Effect.sync(() => void running--)
          )
        const fiber = yield* Stream.fromIterable(items.map((x, i) => [x, i] as const)).pipe(
          Stream.rechunk(7),
          mapEffectUnordered(concurrency, ([x, i]) => f(x, i)),
          Stream.runCollect,
          Effect.fork
        )
        yield* TestClock.adjust(items.length * 20 + 1)
        const out = Chunk.toArray(yield* Fiber.join(fiber))
        expect([...out].sort((a, b) => a - b)).toEqual(items.map((x) => x * 2).sort((a, b) => a - b))
        expect(peak).toBeLessThanOrEqual(concurrency)
        if (items.length >= concurrency) expect(peak).toBe(concurrency)
      }),
    { fastCheck: { numRuns: 60 } }
  )

  it.effect("empty chunks from the source and undefined elements end nothing early", () =>
    Effect.gen(function*() {
      const source = Stream.fromIterable<number | undefined>([1, 2, 3, undefined, 5, 6]).pipe(
        Stream.rechunk(1),
        // drops whole one-element chunks, leaving empty ones in the stream
        Stream.filter((x) => x !== 2 && x !== 5)
      )
      const out = yield* source.pipe(mapEffectUnordered(1, (x) => Effect.succeed(x)), Stream.runCollect)
      expect(Chunk.toArray(out)).toEqual([1, 3, undefined, 6])
    }))

  it.effect("a failing element fails the stream and stops the others", () =>
    Effect.gen(function*() {
      let started = 0
      let interrupted = 0
      const result = yield* Stream.range(1, 100).pipe(
        mapEffectUnordered(4, (n) =>
          Effect.suspend(() => {
            started++
            return n === 3 ? Effect.fail(`element ${n}`) : Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => void interrupted++)))
          })),
        Stream.runCollect,
        Effect.either
      )
      expect(result).toEqual(Either.left("element 3"))
      expect(started).toBe(4)
      expect(interrupted).toBe(3)
    }))

  it.effect("a failing source fails the stream after what it produced", () =>
    Effect.gen(function*() {
      const seen: Array<number> = []
      const result = yield* Stream.concat(Stream.make(1, 2), Stream.fail("source broke")).pipe(
        mapEffectUnordered(2, (n) => Effect.sync(() => void seen.push(n))),
        Stream.runCollect,
        Effect.either
      )
      expect(result).toEqual(Either.left("source broke"))
      expect(seen.sort()).toEqual([1, 2])
    }))

  it.effect("taking fewer elements than the source has interrupts the workers", () =>
    Effect.gen(function*() {
      let active = 0
      const out = yield* Stream.range(1, 1000).pipe(
        mapEffectUnordered(3, (n) => Effect.acquireUseRelease(Effect.sync(() => active++), () => Effect.succeed(n), () => Effect.sync(() => void active--))),
        Stream.take(5),
        Stream.runCollect
      )
      expect(Chunk.size(out)).toBe(5)
      expect(active).toBe(0)
    }))
})
