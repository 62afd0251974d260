import { describe, expect, it } from "@effect/vitest"
import { compilePattern, makeExclude } from "../../src/store/exclude.js"

describe("fnmatch with FNM_PATHNAME", () => {
  it.each([
    ["*.log", "a.log", true], ["*.log", "d/a.log", false], ["a?c", "abc", true], ["a?c", "a/c", false],
    ["[a-c]x", "bx", true], ["[!a-c]x", "dx", true], ["[!a-c]x", "/x", false], ["[]]", "]", true],
    ["\\*", "*", true], ["\\*", "a", false], ["a/*/c", "a/b/c", true], ["a/*/c", "a/b/d/c", false], ["[ab", "[ab", true]
  ])("%s ~ %s → %s", (pattern, name, want) => {
    expect(compilePattern(pattern).test(name)).toBe(want)
  })
})

describe("makuosan exclude semantics (spec §10)", () => {
  const ex = makeExclude("/srv/www", ["*.log", "cache/", "tmp", "a/b/*", "/srv/www/top", "tmp*"])
  it.each([
    ["x.log", false, true], ["d/e/x.log", false, true], ["cache", true, true], ["cache", false, false],
    ["d/cache", true, true], ["tmp", false, true], ["d/tmp", true, true], ["q/a/b/c", false, true],
    ["a/b/c/d", false, false], ["top", false, true], ["d/top", false, false], ["keep.txt", false, false]
  ])("%s (dir %s) excluded: %s", (rel, dir, want) => {
    expect(ex.excludes(rel, dir)).toBe(want)
  })

  it("keeps makuosan's quirk: 'tmp*' does not exclude a file named 'tm'", () => {
    expect(makeExclude("/b", ["tmp*"]).excludes("tm", false)).toBe(false)
    expect(makeExclude("/b", ["tmp*"]).excludes("tmpx", false)).toBe(true)
  })
})
