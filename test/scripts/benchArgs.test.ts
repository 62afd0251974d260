import { describe, expect, it } from "@effect/vitest"
import { benchUsage, parseBenchArgs } from "../../scripts/lib/benchArgs.js"

describe("npm run bench's arguments", () => {
  it("--profile DIR, made absolute against the working directory, beside the other flags", () => {
    expect(parseBenchArgs(["--quick", "--profile", "prof", "--k", "1,4", "--key"], "/work/x")).toEqual({
      _tag: "Run", quick: true, key: true, lists: { k: ["1", "4"] }, profile: "/work/x/prof"
    })
    expect(parseBenchArgs(["--profile", "/tmp/p"], "/work/x")).toMatchObject({ _tag: "Run", profile: "/tmp/p" })
  })

  it("without --profile nothing is profiled; every list flag read", () => {
    expect(parseBenchArgs(["--loss", "0", "--scenario", "cpu", "--workload", "small,big", "--parallel", "8"], "/")).toEqual({
      _tag: "Run", quick: false, key: false, profile: undefined,
      lists: { loss: ["0"], scenario: ["cpu"], workload: ["small", "big"], parallel: ["8"] }
    })
  })

  it("a flag without its value, or an unknown one, is refused by name (no full run that ignores it)", () => {
    expect(parseBenchArgs(["--profile"], "/")).toEqual({ _tag: "Invalid", message: "--profile needs a value" })
    expect(parseBenchArgs(["--profile", "--quick"], "/")).toEqual({ _tag: "Invalid", message: "--profile needs a value" })
    expect(parseBenchArgs(["--k"], "/")).toEqual({ _tag: "Invalid", message: "--k needs a value" })
    expect(parseBenchArgs(["--profiel", "x"], "/")).toEqual({ _tag: "Invalid", message: "unknown argument --profiel" })
  })

  it("--help wins and the usage lists --profile", () => {
    expect(parseBenchArgs(["--k", "1", "--help"], "/")).toEqual({ _tag: "Help" })
    expect(benchUsage).toContain("--profile DIR")
  })
})
