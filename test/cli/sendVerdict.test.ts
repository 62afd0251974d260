import { describe, expect, it } from "@effect/vitest"
import { summaryLine } from "../../src/cli/sendRender.js"
import { type SendSummary, verdict } from "../../src/domain/summary.js"

const zero: SendSummary = {
  files: 1, bytes: 0, hosts: 2, milliseconds: 1000, updated: 0, skipped: 0, readonly: 0, deleted: 0, same: 0, different: 0,
  missing: 0, failed: 0, lost: 0, sourceErrors: 0
}

describe("what a send's totals mean for its exit status", () => {
  it("a member running --readonly that did not take a file is not success, and not a failure either", () => {
    expect(verdict({ ...zero, updated: 1, skipped: 1 })).toBe("complete")
    expect(verdict({ ...zero, updated: 1, readonly: 1 })).toBe("declined")
    // a failure says more than a refusal
    expect(verdict({ ...zero, readonly: 1, failed: 1 })).toBe("failed")
    expect(verdict({ ...zero, readonly: 1, lost: 1 })).toBe("failed")
    expect(verdict({ ...zero, sourceErrors: 1 })).toBe("failed")
  })

  it("the summary line counts what readonly members did not take", () => {
    expect(summaryLine({ ...zero, updated: 1, readonly: 1 }, false, "send")).toBe(
      "1 file to 2 hosts in 1.00 s: 1 updated, 1 readonly (not taken)"
    )
    expect(summaryLine({ ...zero, updated: 2 }, false, "send")).not.toContain("readonly")
  })
})
