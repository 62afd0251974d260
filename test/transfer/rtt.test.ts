import { describe, expect, it } from "vitest"
import { makeRttEstimator, MIN_RTO_MS } from "../../src/transfer/engine/rtt.js"

describe("retransmission timeout from the measured round trip", () => {
  it("waits the full 500 ms until it has measured, then follows the round trip, never below the floor", () => {
    const rtt = makeRttEstimator()
    expect(rtt.rto(500)).toBe(500)
    for (let i = 0; i < 20; i++) rtt.sample(1)
    expect(rtt.rto(500)).toBe(MIN_RTO_MS)
    for (let i = 0; i < 50; i++) rtt.sample(40)
    const settled = rtt.rto(500)
    expect(settled).toBeGreaterThanOrEqual(40)
    expect(settled).toBeLessThan(80)
    // a jittery network widens the wait; the ceiling is the caller's
    for (let i = 0; i < 20; i++) rtt.sample(i % 2 === 0 ? 10 : 200)
    expect(rtt.rto(500)).toBeGreaterThan(200)
    expect(rtt.rto(150)).toBe(150)
  })
})
