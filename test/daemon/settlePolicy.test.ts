/**
 * When an idle daemon gives memory back (`settlePolicy.ts`), over random runs of samples: busy spells, quiet ones,
 * an old space that grows and what each collection leaves. The policy run as the settle timer runs it.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { type Action, collected, CREEP_BYTES, initial, QUIET_MS, type Sample, SAMPLE_MS, step } from "../../src/daemon/settlePolicy.js"

const MiB = 1 << 20

/** One timer tick: the time since the last, the work that came, the sends running, the old space's growth. */
interface Tick {
  readonly elapsed: number
  readonly work: number
  readonly running: number
  readonly grown: number
  /** What a collection keeps of the old space (the rest was garbage). */
  readonly kept: number
}

const tick: fc.Arbitrary<Tick> = fc.record({
  elapsed: fc.integer({ min: SAMPLE_MS / 2, max: 3 * SAMPLE_MS }),
  work: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 1000 })),
  running: fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 3 })),
  grown: fc.integer({ min: 0, max: 3 * MiB }),
  kept: fc.double({ min: 0.2, max: 1, noNaN: true })
})

interface Step {
  readonly sample: Sample
  readonly busy: boolean
  readonly action: Action
  /** The old space's use the policy measures against: after the last collection. */
  readonly baseline: number
}

/** Runs the policy over the ticks as `settle.ts` does: after an action, what its collection left is reported. */
const run = (ticks: ReadonlyArray<Tick>) => {
  let sample: Sample = { now: 1000, oldSpaceUsed: 10 * MiB, work: 5, running: 0 }
  let state = initial(sample)
  let baseline = sample.oldSpaceUsed
  const steps: Array<Step> = []
  for (const t of ticks) {
    const previous = sample
    sample = { now: previous.now + t.elapsed, oldSpaceUsed: previous.oldSpaceUsed + t.grown, work: previous.work + t.work, running: t.running }
    const next = step(state, sample)
    steps.push({ sample, busy: t.work > 0 || t.running > 0, action: next.action, baseline })
    state = next.state
    if (next.action !== "None") {
      sample = { ...sample, oldSpaceUsed: Math.round(sample.oldSpaceUsed * t.kept) }
      state = collected(state, sample.oldSpaceUsed)
      baseline = sample.oldSpaceUsed
    }
  }
  return steps
}

const ticks = fc.array(tick, { minLength: 1, maxLength: 80 })

/** For each step, the last busy step before it (-1: none since start-up, whose collection was the first settle). */
const lastBusy = (steps: ReadonlyArray<Step>) => {
  let last = -1
  return steps.map((s, i) => {
    const before = last
    if (s.busy) last = i
    return before
  })
}

describe("when an idle daemon gives memory back", () => {
  it.prop("never while it works: no collection at a sample that saw work or a send running", [ticks], ([ts]) => {
    for (const s of run(ts)) if (s.busy) expect(s.action).toBe("None")
  })

  it.prop("after work, settles once, at the first sample quiet for QUIET_MS since the last busy one", [ticks], ([ts]) => {
    const steps = run(ts)
    const busy = lastBusy(steps)
    steps.forEach((s, i) => {
      const b = busy[i]!
      if (s.busy) return
      // quiet since step b; settled already if a Settle came after it
      const settledSince = steps.slice(b + 1, i).some((x) => x.action === "Settle")
      const due = b >= 0 && !settledSince && s.sample.now - steps[b]!.sample.now >= QUIET_MS
      expect(s.action === "Settle", `step ${i}`).toBe(due)
    })
  })

  it.prop("settled, collects exactly when the old space grew CREEP_BYTES past what the last collection left", [ticks], ([ts]) => {
    const steps = run(ts)
    const busy = lastBusy(steps)
    steps.forEach((s, i) => {
      if (s.busy) return
      const b = busy[i]!
      const settled = b < 0 || steps.slice(b + 1, i).some((x) => x.action === "Settle")
      expect(s.action === "Collect", `step ${i}`).toBe(settled && s.sample.oldSpaceUsed - s.baseline >= CREEP_BYTES)
    })
  })

  it.prop("an idle daemon's collections are as rare as its growth: one per CREEP_BYTES grown at most", [fc.array(tick.map((t) => ({ ...t, work: 0, running: 0 })), { maxLength: 200 })], ([ts]) => {
    const steps = run(ts)
    expect(steps.every((s) => s.action !== "Settle")).toBe(true)
    const grown = ts.reduce((sum, t) => sum + t.grown, 0)
    expect(steps.filter((s) => s.action === "Collect").length).toBeLessThanOrEqual(Math.floor(grown / CREEP_BYTES))
  })

  it("a daemon that goes quiet settles within QUIET_MS and a sample", () => {
    const steps = run([{ elapsed: SAMPLE_MS, work: 10, running: 0, grown: 0, kept: 1 }, ...Array.from({ length: 10 }, () => ({ elapsed: SAMPLE_MS, work: 0, running: 0, grown: 0, kept: 1 }))])
    const settledAt = steps.findIndex((s) => s.action === "Settle")
    expect(settledAt).toBe(Math.ceil(QUIET_MS / SAMPLE_MS))
    expect(steps.filter((s) => s.action !== "None")).toHaveLength(1)
  })
})
