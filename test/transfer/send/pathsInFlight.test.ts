import { describe, expect, it } from "@effect/vitest"
import { makePathsInFlight } from "../../../src/transfer/send/pathsInFlight.js"

describe("paths in flight", () => {
  it("a directory is busy while anything strictly below it is in flight; itself and its siblings do not count", () => {
    const paths = makePathsInFlight()
    paths.add("a/b/c")
    paths.add("a")
    paths.add("ab/x")
    expect(paths.busyBelow("a")).toBe(true)
    expect(paths.busyBelow("a/b")).toBe(true)
    expect(paths.busyBelow("a/b/c")).toBe(false)
    expect(paths.busyBelow("ab")).toBe(true)
    expect(paths.busyBelow(".")).toBe(true)
    paths.remove("a/b/c")
    expect(paths.busyBelow("a")).toBe(false)
    expect(paths.busyBelow("a/b")).toBe(false)
  })

  it("the same path in flight twice stays busy until both are done", () => {
    const paths = makePathsInFlight()
    paths.add("d/f")
    paths.add("d/f")
    paths.remove("d/f")
    expect(paths.busyBelow("d")).toBe(true)
    paths.remove("d/f")
    expect(paths.busyBelow("d")).toBe(false)
  })
})
