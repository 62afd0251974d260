import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { compilePattern, makeExclude, patternsForMembers } from "../../src/store/exclude.js"

describe("fnmatch with FNM_PATHNAME", () => {
  it.each([
    ["*.log", "a.log", true], ["*.log", "d/a.log", false], ["a?c", "abc", true], ["a?c", "a/c", false],
    ["[a-c]x", "bx", true], ["[!a-c]x", "dx", true], ["[!a-c]x", "/x", false], ["[]]", "]", true],
    ["\\*", "*", true], ["\\*", "a", false], ["a/*/c", "a/b/c", true], ["a/*/c", "a/b/d/c", false], ["[ab", "[ab", true]
  ])("%s ~ %s → %s", (pattern, name, want) => {
    expect(compilePattern(pattern).test(name)).toBe(want)
  })
})

describe("makuosan exclude semantics (makuosan-v7.md §10)", () => {
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

describe("rsync's anchored form: a pattern starting with / is relative to the base", () => {
  const ex = makeExclude("/srv/www", ["/cache2", "/a/*.tmp", "/logs/"])
  it.each([
    ["cache2", true, true], ["cache2", false, true], ["d/cache2", true, false], ["cache2x", true, false],
    ["a/x.tmp", false, true], ["a/b/x.tmp", false, false], ["x.tmp", false, false],
    ["logs", true, true], ["logs", false, false], ["d/logs", true, false]
  ])("%s (dir %s) excluded: %s", (rel, dir, want) => {
    expect(ex.excludes(rel, dir)).toBe(want)
  })

  it("goes to the members also in makuosan's form, with this base; makuosan's own absolute form also anchored; the others as they are", () => {
    expect(patternsForMembers("/srv/www", ["/cache2", "/srv/www/top", "*.log", "a/b"])).toEqual(["/cache2", "/srv/www/cache2", "/srv/www/top", "/top", "*.log", "a/b"])
    expect(patternsForMembers("/", ["/cache2"])).toEqual(["/cache2"])
    // a member with another base matches the anchored form against its own
    expect(makeExclude("/home/web", patternsForMembers("/srv/www", ["/cache2"])).excludes("cache2", true)).toBe(true)
    // and so does it with the pattern written with this base (makuosan's absolute form)
    expect(makeExclude("/home/web", patternsForMembers("/srv/www", ["/srv/www/top"])).excludes("top", false)).toBe(true)
  })
})

describe("fnmatch without backtracking", () => {
  /** The reference: the same semantics as a regular expression (fine for these short inputs). */
  const reference = (pattern: string) =>
    new RegExp(
      "^" + pattern.replace(/\[!a\]|\[ab\]|[*?]|[^*?[\]]/g, (t) =>
        t === "*" ? "[^/]*" : t === "?" ? "[^/]" : t === "[ab]" ? "[ab]" : t === "[!a]" ? "[^a/]" : t.replace(/[.+^${}()|\\/]/g, "\\$&")) + "$",
      "s"
    )

  it.prop(
    "agrees with a regular expression of the same pattern on short names",
    [
      fc.array(fc.constantFrom("a", "b", "/", "*", "?", "[ab]", "[!a]"), { maxLength: 6 }).map((ts) => ts.join("")),
      fc.array(fc.constantFrom("a", "b", "c", "/"), { maxLength: 8 }).map((cs) => cs.join(""))
    ],
    ([pattern, name]) => {
      expect(compilePattern(pattern).test(name)).toBe(reference(pattern).test(name))
    },
    { fastCheck: { numRuns: 2000 } }
  )

  it("a pattern that makes a backtracking matcher run for ages is answered at once (exclude patterns come from any peer)", () => {
    const hostile = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"
    const name = "a".repeat(250)
    expect(compilePattern(hostile).test(name)).toBe(false)
    expect(makeExclude("/srv", [hostile]).excludes(`d/${name}`, true)).toBe(false)
    expect(compilePattern(hostile).test(name + "b")).toBe(true)
  }, 2_000)
})
