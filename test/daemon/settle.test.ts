/**
 * The compiler tiers an idle daemon holds off (`heldTiers`): those node's own flags do not name. An operator's
 * `--no-sparkplug` stays theirs: the daemon's first work must not turn Sparkplug back on. Likewise TurboFan's
 * threshold (`interruptBudgetFlag`): the daemon's unless node's flags give one.
 */
import { describe, expect, it } from "@effect/vitest"
import { heldTiers, INTERRUPT_BUDGET, interruptBudgetFlag } from "../../src/daemon/settle.js"

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

describe("TurboFan's threshold", () => {
  it("raised, where node's flags set none (other flags named alike are not one)", () => {
    const raised = `--interrupt-budget=${INTERRUPT_BUDGET}`
    expect(interruptBudgetFlag("")).toBe(raised)
    expect(interruptBudgetFlag("--interrupt-budget-for-feedback-allocation=100 --no-opt")).toBe(raised)
  })

  it("the operator's, however spelled", () => {
    expect(interruptBudgetFlag("--interrupt-budget=1000")).toBeUndefined()
    expect(interruptBudgetFlag("--interrupt_budget=1000 --trace-opt")).toBeUndefined()
    expect(interruptBudgetFlag("--max-semi-space-size=4 --interrupt-budget 1000")).toBeUndefined()
  })
})
