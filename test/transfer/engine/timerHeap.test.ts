import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { type Due, makeTimerHeap } from "../../../src/transfer/engine/timerHeap.js"

describe("timer heap", () => {
  it.prop(
    "due gives every entry set at or before now, earliest first and equal times in the order set; later ones stay",
    [fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 200 }), fc.integer({ min: 0, max: 60 })],
    ([ats, now]) => {
      const heap = makeTimerHeap<number>()
      ats.forEach((at, i) => heap.push(at, i))
      const due: Array<Due<number>> = []
      heap.due(now, due)
      const want = ats.map((at, i) => ({ at, value: i })).filter((e) => e.at <= now).sort((a, b) => a.at - b.at || a.value - b.value)
      expect(due).toEqual(want)
      expect(heap.size()).toBe(ats.length - want.length)
      const later = ats.filter((at) => at > now)
      expect(heap.earliest()).toBe(later.length === 0 ? Infinity : Math.min(...later))
    }
  )

  it.prop(
    "dropStale removes stale entries from the front only, up to the first live one",
    [fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.boolean()), { maxLength: 100 })],
    ([entries]) => {
      const heap = makeTimerHeap<{ readonly stale: boolean }>()
      for (const [at, stale] of entries) heap.push(at, { stale })
      heap.dropStale((_, v) => v.stale)
      const order = entries.map(([at, stale], i) => ({ at, stale, i })).sort((a, b) => a.at - b.at || a.i - b.i)
      const firstLive = order.findIndex((e) => !e.stale)
      const left = firstLive < 0 ? [] : order.slice(firstLive)
      expect(heap.size()).toBe(left.length)
      expect(heap.earliest()).toBe(left.length === 0 ? Infinity : left[0]!.at)
    }
  )
})
