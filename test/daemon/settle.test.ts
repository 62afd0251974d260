/**
 * The compiler tiers an idle daemon holds off (`heldTiers`): those node's own flags do not name. An operator's
 * `--no-sparkplug` stays theirs: the daemon's first work must not turn Sparkplug back on.
 */
import { describe, expect, it } from "@effect/vitest"
import { heldTiers } from "../../src/daemon/settle.js"

describe("the compiler tiers an idle daemon holds off", () => {
  it("both, where node's flags name neither", () => {
    expect(heldTiers("")).toEqual(["sparkplug", "turbofan"])
    expect(heldTiers("--max-semi-space-size=4 --trace-opt --import probe.mjs")).toEqual(["sparkplug", "turbofan"])
  })

  it("not one the operator set, however spelled", () => {
    expect(heldTiers("--no-sparkplug")).toEqual(["turbofan"])
    expect(heldTiers("--always_sparkplug")).toEqual(["turbofan"])
    expect(heldTiers("--no-opt")).toEqual(["sparkplug"])
    expect(heldTiers("--no_turbofan")).toEqual(["sparkplug"])
    expect(heldTiers("--turbofan --sparkplug")).toEqual([])
  })

  it("none under --jitless, which has no compilers to give back", () => {
    expect(heldTiers("--jitless")).toEqual([])
  })
})
