import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { ReplayWindow, WINDOW } from "../../src/secure/replayWindow.js"

const runs = { fastCheck: { numRuns: Number(process.env.MAKUO_PROP_RUNS ?? 300) } }

/** The rule the bitmap implements, kept as plainly as possible: every counter seen, and the highest. */
class Model {
  private readonly seen = new Set<number>()
  private top = -1
  check(c: number) {
    if (c > this.top) return "fresh"
    if (c <= this.top - WINDOW) return "tooOld"
    return this.seen.has(c) ? "replayed" : "fresh"
  }
  accept(c: number) {
    this.seen.add(c)
    this.top = Math.max(this.top, c)
  }
}

/** Counters that wander around a moving point, with jumps past the window and repeats of earlier ones. */
const counters = fc.array(
  fc.oneof(
    fc.integer({ min: -40, max: 40 }).map((d) => ({ step: d })),
    fc.integer({ min: -2 * WINDOW, max: 3 * WINDOW }).map((d) => ({ step: d })),
    fc.constantFrom(WINDOW, WINDOW + 32, 256 * 32, 257 * 32, 255 * 32).map((d) => ({ step: d })),
    fc.nat(200).map((back) => ({ repeat: back }))
  ),
  { maxLength: 600 }
)

describe("RFC 6479 replay window", () => {
  it.prop("agrees with a set of seen counters and the window rule", [counters, fc.integer({ min: 0, max: 2 ** 40 })], ([moves, base]) => {
    const window = new ReplayWindow()
    const model = new Model()
    const history: Array<number> = []
    let at = base
    for (const move of moves) {
      const c = "step" in move ? (at = Math.max(0, at + move.step)) : history[history.length - 1 - (move.repeat % Math.max(1, history.length))] ?? at
      const verdict = window.check(c)
      expect(verdict).toBe(model.check(c))
      if (verdict === "fresh") {
        window.accept(c)
        model.accept(c)
      }
      history.push(c)
    }
  }, runs)

  it("refuses a counter seen, and one a whole window behind the highest", () => {
    const w = new ReplayWindow()
    for (let c = 0; c <= WINDOW + 5; c++) w.accept(c)
    expect(w.check(WINDOW + 5)).toBe("replayed")
    expect(w.check(6)).toBe("replayed")
    expect(w.check(5)).toBe("tooOld")
    expect(w.check(WINDOW + 6)).toBe("fresh")
  })

  it("a jump of exactly the ring's length clears the word it lands on", () => {
    const w = new ReplayWindow()
    w.accept(99)
    w.accept(100)
    w.accept(100 + 256 * 32)
    expect(w.check(99 + 256 * 32)).toBe("fresh")
  })

  it("near 2^53 still tells counters apart", () => {
    const w = new ReplayWindow()
    const top = Number.MAX_SAFE_INTEGER - 3
    w.accept(top - 100)
    w.accept(top)
    expect(w.check(top - 100)).toBe("replayed")
    expect(w.check(top - 99)).toBe("fresh")
    expect(w.check(top + 1)).toBe("fresh")
  })
})
