import { describe, expect, it } from "@effect/vitest"
import { formatVerdict, judge, type Measured } from "../../scripts/lib/targets.js"

const row = (over: Partial<Measured>): Measured => ({
  scenario: "cpu",
  receivers: 1,
  lossPercent: 0,
  workload: "big",
  mode: "native",
  seconds: 1,
  mbPerSecond: 100,
  retransmittedPercent: 0,
  linkShare: undefined,
  senderCpuSecondsPerGiB: undefined,
  receiverCpuSecondsPerGiB: undefined,
  senderCpuMicrosPerFile: undefined,
  receiverCpuMicrosPerFile: undefined,
  rsyncAllAtOnceRatio: undefined,
  ...over
})

const lines = (rows: ReadonlyArray<Measured>) => judge(rows).map(formatVerdict)

describe("the issues' targets on a bench run", () => {
  it("a ratio takes its partner from the same run, and is left out without one", () => {
    const nativeBig = row({ mbPerSecond: 219 })
    expect(lines([nativeBig]).filter((l) => l.includes("over v7"))).toEqual([])
    expect(lines([nativeBig, row({ mode: "v7", mbPerSecond: 279 })]).filter((l) => l.includes("over v7"))).toEqual([
      "#22 native big file CPU-bound K = 1, goodput over v7's (CPU-bound, K = 1): 0.78× (target ≥ 1.00×): missed by 22 %"
    ])
    expect(lines([row({ mbPerSecond: 300 }), row({ mode: "v7", mbPerSecond: 279 })]).filter((l) => l.includes("over v7"))).toEqual([
      "#22 native big file CPU-bound K = 1, goodput over v7's (CPU-bound, K = 1): 1.08× (target ≥ 1.00×): met"
    ])
  })

  it("an upper bound missed by over twice is said as a multiple; a target for both modes names the mode", () => {
    const small = row({ workload: "small", receivers: 2, seconds: 0.78, senderCpuMicrosPerFile: 276, receiverCpuMicrosPerFile: 70 })
    expect(lines([small])).toEqual([
      "#23 native small files CPU-bound K = 2, time (CPU-bound, K = 2): 0.78 s (target ≤ 0.20 s): missed: 3.9× the bound",
      "#23 native small files, sender CPU per new file (CPU-bound, K = 2): 276 µs (target ≤ 40 µs): missed: 6.9× the bound",
      "#23 native small files, busiest member's CPU per new file (CPU-bound, K = 2): 70 µs (target ≤ 80 µs): met"
    ])
    expect(lines([row({ mode: "v7", scenario: "link", receivers: 8, linkShare: 0.93, retransmittedPercent: 1.5 })])).toEqual([
      "#24 big file link-bound, share of the link (link-bound, K = 8, v7): 93.0 % (target ≥ 90.0 %): met",
      "#24 big file, blocks sent twice without loss (link-bound, K = 8, v7): 1.5 % (target ≤ 1.0 %): missed by 50 %"
    ])
  })

  it("a loss row is judged against the loss-free row of its K, scenario and mode", () => {
    const rows = [
      row({ receivers: 2, mbPerSecond: 100 }), row({ receivers: 2, lossPercent: 1, mbPerSecond: 80 }),
      row({ receivers: 4, lossPercent: 1, mbPerSecond: 80 })
    ]
    expect(lines(rows).filter((l) => l.includes("1 % loss"))).toEqual([
      "#24 big file with 1 % loss, share of the loss-free goodput (CPU-bound, K = 2, 1 % loss, native): 80.0 % (target ≥ 85.0 %): missed by 6 %"
    ])
  })

  it("the K = 8 small-file time is judged against K = 1's of the same scenario", () => {
    const rows = [
      row({ workload: "small", scenario: "link", receivers: 1, seconds: 1.0 }), row({ workload: "small", scenario: "link", receivers: 8, seconds: 1.25 }),
      row({ workload: "small", scenario: "cpu", receivers: 8, seconds: 9 })
    ]
    expect(lines(rows).filter((l) => l.includes("over K = 1"))).toEqual([
      "#23 native small files link-bound K = 8, time over K = 1's (link-bound, K = 8): 1.25× (target ≤ 1.30×): met"
    ])
  })
})
