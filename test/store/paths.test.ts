import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { splitRelative } from "../../src/store/paths.js"

describe("wire path rules", () => {
  it.each([
    ["a/b.txt", ["a", "b.txt"]], ["dir/", ["dir"]], ["./a/./b", ["a", "b"]], ["sp ace.txt", ["sp ace.txt"]], [".", []]
  ])("accepts %s", (path, parts) => {
    expect(Either.getOrThrow(splitRelative(path))).toEqual(parts)
  })
  it.each([
    ["/etc/passwd", "absolute"], ["../x", "'..'"], ["a/../../x", "'..'"], ["a//b", "empty"], ["", "empty"],
    ["a\u0000b", "NUL"], ["a\\b", "backslash"], ["x".repeat(256), "component longer"], ["a/".repeat(2100), "longer than"]
  ])("refuses %s", (path, why) => {
    const r = splitRelative(path)
    expect(Either.isLeft(r) && r.left.reason).toContain(why)
  })
})
