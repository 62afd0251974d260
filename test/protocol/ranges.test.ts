import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { RangeSet } from "../../src/protocol/ranges.js"

type Op = { op: "add"; low: number; high: number } | { op: "delete"; block: number } | { op: "shift" }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("add" as const), low: fc.integer({ min: -3, max: 60 }), high: fc.integer({ min: -3, max: 70 }) }),
  fc.record({ op: fc.constant("delete" as const), block: fc.integer({ min: 0, max: 70 }) }),
  fc.record({ op: fc.constant("shift" as const) })
)

describe("RangeSet", () => {
  it.prop("behaves like a set of numbers and stays sorted, disjoint and non-touching", [fc.array(op, { maxLength: 40 })], ([ops]) => {
    const set = new RangeSet()
    const model = new Set<number>()
    for (const o of ops) {
      if (o.op === "add") {
        set.add(o.low, o.high, 64)
        for (let b = Math.max(0, o.low); b < Math.min(o.high, 64); b++) model.add(b)
      } else if (o.op === "delete") {
        expect(set.delete(o.block)).toBe(model.delete(o.block))
      } else {
        const lowest = model.size === 0 ? undefined : Math.min(...model)
        expect(set.shift()).toBe(lowest)
        if (lowest !== undefined) model.delete(lowest)
      }
      const ranges = set.ranges()
      const blocks = ranges.flatMap(([l, h]) => Array.from({ length: h - l }, (_, k) => l + k))
      expect(blocks).toEqual([...model].sort((a, b) => a - b))
      for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThan(ranges[i - 1]![1])
      expect(set.size).toBe(model.size)
      for (let b = 0; b < 66; b++) expect(set.has(b)).toBe(model.has(b))
    }
  })

  it("clamps ranges to the file and drops empty or inverted ones", () => {
    const set = new RangeSet()
    set.add(5, 3)
    set.add(10, 4_000_000_000, 12)
    set.add(-5, 1, 12)
    expect(set.ranges()).toEqual([[0, 1], [10, 12]])
    expect(set.ranges(1)).toEqual([[0, 1]])
  })

  it.prop("bounded: never more than maxRanges ranges, never forgets a block, takes out only blocks it had", [fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 60 })], ([max, ops]) => {
    const set = new RangeSet(max)
    // what must still be in the set: added and not taken out (the set may hold more: widened at the bound)
    const owed = new Set<number>()
    for (const o of ops) {
      if (o.op === "add") {
        set.add(o.low, o.high, 64)
        for (let b = Math.max(0, o.low); b < Math.min(o.high, 64); b++) owed.add(b)
      } else if (o.op === "delete") {
        const had = set.has(o.block)
        const taken = set.delete(o.block)
        if (taken) {
          expect(had).toBe(true)
          owed.delete(o.block)
        } else if (had) expect(set.has(o.block)).toBe(true)
      } else {
        const lowest = set.ranges()[0]?.[0]
        expect(set.shift()).toBe(lowest)
        if (lowest !== undefined) owed.delete(lowest)
      }
      expect(set.count).toBeLessThanOrEqual(max)
      for (const b of owed) expect(set.has(b)).toBe(true)
      const ranges = set.ranges()
      for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThan(ranges[i - 1]![1])
    }
  })
})
