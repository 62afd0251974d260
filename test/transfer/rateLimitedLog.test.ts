import { describe, expect, it } from "@effect/vitest"
import { rateLimitedLog } from "../../src/transfer/rateLimitedLog.js"

describe("rateLimitedLog", () => {
  it("one line per kind and period; the next line counts what was held back", () => {
    const lines: Array<string> = []
    const notice = rateLimitedLog<"a" | "b">((m) => lines.push(m), 10_000)
    for (let t = 0; t < 5_000; t += 10) notice("a", "flood", t)
    notice("b", "other kind", 100)
    notice("a", "flood", 10_000)
    notice("a", "flood", 25_000)
    expect(lines).toEqual(["flood", "other kind", "flood (and 499 more like it in the last 10 s)", "flood"])
  })
})
