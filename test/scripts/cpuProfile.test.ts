import { describe, expect, it } from "@effect/vitest"
import { type CpuProfile, formatTop, selfTimes } from "../../scripts/lib/cpuProfile.js"

const frame = (functionName: string, url: string, lineNumber: number, columnNumber = 4) => ({ functionName, url, lineNumber, columnNumber })

// root -> main -> (hash called from two places: two nodes of one function) and an anonymous callback
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame("(root)", "", -1) },
    { id: 6, callFrame: frame("(idle)", "", -1, -1) },
    { id: 2, callFrame: frame("main", "file:///a.js", 9) },
    { id: 3, callFrame: frame("hash", "file:///b.js", 41) },
    { id: 4, callFrame: frame("hash", "file:///b.js", 41) },
    { id: 5, callFrame: frame("", "file:///a.js", 99) }
  ],
  startTime: 1000,
  endTime: 1000 + 10 + 100 + 300 + 200 + 50 + 40 + 1000,
  // samples at 1010, 1110, 1410, 1610, 1660, 1700; each lasts until the next, the last until endTime
  samples: [2, 3, 4, 5, 3, 6],
  timeDeltas: [10, 100, 300, 200, 50, 40]
}

describe("profileTop's sums", () => {
  it("a sample lasts until the next; one function's nodes are summed, keyed by name and 1-based line:column", () => {
    expect(selfTimes(profile)).toEqual({
      total: 100 + 300 + 200 + 50 + 40 + 1000,
      functions: [
        { function: "(idle) :0:0", micros: 1000 },
        { function: "hash file:///b.js:42:5", micros: 300 + 200 + 40 },
        { function: "main file:///a.js:10:5", micros: 100 },
        { function: "(anonymous) file:///a.js:100:5", micros: 50 }
      ]
    })
  })

  it("prints the top N busy functions with milliseconds and percent of the busy time (idle left out)", () => {
    expect(formatTop(profile, 2)).toEqual([
      "1.7 ms sampled, 0.7 ms busy (not idle); top 2 of 3 functions by self time",
      "       0.5 ms  78.3 %  hash file:///b.js:42:5",
      "       0.1 ms  14.5 %  main file:///a.js:10:5"
    ])
  })
})
