/**
 * A member's DSYNC walk is pulled a DEL batch at a time, and a pull is bounded in work: entries passed over
 * (excluded, temp files) count too, so a tree of excluded entries never holds up the event loop in one pull.
 */
import { describe, expect, it } from "@effect/vitest"
import type { DelRecord } from "../../../src/protocol/v7/message.js"
import { batches, STEPS_PER_TURN } from "../../../src/transfer/dsync/delBatches.js"

/** 10 000 entries passed over, then 40 records; counts what each pull takes from the walk. */
function* walk(counter: { n: number }): Generator<DelRecord | undefined> {
  for (let i = 0; i < 10_000; i++) counter.n++, yield undefined
  for (let i = 0; i < 40; i++) counter.n++, yield { value: 0o100644, path: `f${i}` }
}

describe("DEL batches of a member's DSYNC walk", () => {
  it("a pull looks at STEPS_PER_TURN entries at most; every record comes, in order, 16 a batch at most", () => {
    const counter = { n: 0 }
    const next = batches(walk(counter))
    const records: Array<DelRecord> = []
    let pulls = 0
    for (let done = false; !done && pulls < 1000; pulls++) {
      const before = counter.n
      const batch = next()
      expect(counter.n - before).toBeLessThanOrEqual(STEPS_PER_TURN)
      expect(batch.records.length).toBeLessThanOrEqual(16)
      records.push(...batch.records)
      done = batch.done
    }
    expect(pulls).toBeGreaterThanOrEqual(10_000 / STEPS_PER_TURN)
    expect(records.map((r) => r.path)).toEqual(Array.from({ length: 40 }, (_, i) => `f${i}`))
  })

  it("records that do not fit one payload together are cut into batches that do", () => {
    const long = (i: number): DelRecord => ({ value: 0, path: `${i}`.padEnd(400, "x") })
    const next = batches([long(1), long(2), long(3), long(4), long(5)][Symbol.iterator]())
    expect(next().records.map((r) => r.path[0])).toEqual(["1", "2"])
    expect(next().records.map((r) => r.path[0])).toEqual(["3", "4"])
    expect(next()).toEqual({ records: [long(5)], done: true })
  })
})
