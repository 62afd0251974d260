/** `makuo status`: the kernel's receive-drop count, and unknown where the daemon cannot read it (never 0). */
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { statusJson, statusText } from "../../src/cli/render.js"
import { StatusInfo } from "../../src/control/Protocol.js"
import { idleStatus } from "../support/status.js"

const withDrops = (kernelDrops: number | null): StatusInfo => ({ ...idleStatus, counters: { ...idleStatus.counters, kernelDrops } })

describe("status: kernel drops", () => {
  it("text and JSON show the count, or unknown (null)", () => {
    expect(statusText(withDrops(7))).toContain("overflowed 0  kernel drops 7  send errors 0")
    expect(statusText(withDrops(null))).toContain("kernel drops unknown")
    expect(JSON.parse(statusJson(withDrops(7))).counters.kernelDrops).toBe(7)
    expect(JSON.parse(statusJson(withDrops(null))).counters.kernelDrops).toBeNull()
  })

  it("a daemon from before the count: unknown", () => {
    const { kernelDrops: _, ...older } = Schema.encodeSync(StatusInfo)(idleStatus).counters
    const decoded = Schema.decodeUnknownSync(StatusInfo)({ ...Schema.encodeSync(StatusInfo)(idleStatus), counters: older })
    expect(decoded.counters.kernelDrops).toBeNull()
  })
})
