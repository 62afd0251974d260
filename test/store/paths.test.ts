import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { isPlainRelative, splitRelative } from "../../src/store/paths.js"

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

describe("a path already in its one spelling", () => {
  it.each(["a/b.txt", "sp ace.txt", "x".repeat(255), ".a/..b/...", `${"a/".repeat(2047)}b`])("is plain: %s", (path) => {
    expect(isPlainRelative(path)).toBe(true)
  })
  it.each([".", "./a", "a/.", "a/..", "dir/", "/a", "a//b", "", "\u00fc", "a\\b", "a\u0000b", "x".repeat(256), "a/".repeat(2048)])(
    "is not plain: %j",
    (path) => expect(isPlainRelative(path)).toBe(false)
  )
  it("is plain only where the rules accept it as it is written", () => {
    const part = fc.oneof(fc.constantFrom(".", "..", "", "a", "\\", "\u00e9", "b c"), fc.string({ maxLength: 4 }))
    fc.assert(fc.property(fc.array(part, { maxLength: 5 }), (parts) => {
      const path = parts.join("/")
      const split = splitRelative(path)
      if (isPlainRelative(path)) expect(Either.isRight(split) && split.right.join("/")).toBe(path)
      else expect(Either.isLeft(split) || split.right.join("/") !== path || /[^\x20-\x7e]/.test(path)).toBe(true)
    }))
  })
})
