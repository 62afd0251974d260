import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import { join } from "node:path"
import { notFoundHint, resolvePaths } from "../../src/daemon/clientPaths.js"

const tree = () => {
  const root = fs.mkdtempSync(join(os.tmpdir(), "makuo-paths-"))
  const base = join(root, "www")
  fs.mkdirSync(join(base, "htdocs", "img"), { recursive: true })
  fs.writeFileSync(join(base, "htdocs", "index.html"), "x")
  fs.symlinkSync(base, join(root, "link"))
  return { root, base }
}

describe("the client's PATHs, as rsync and msync users type them", () => {
  it("start at the current directory when it lies inside the base, else at the base", () => {
    const { base, root } = tree()
    expect(resolvePaths(base, join(base, "htdocs"), ["index.html", "img/", "../other", ".", "/abs/x"])).toEqual([
      join(base, "htdocs", "index.html"), join(base, "htdocs", "img/"), join(base, "other"), join(base, "htdocs"), "/abs/x"
    ])
    expect(resolvePaths(base, base, ["htdocs/index.html"])).toEqual([join(base, "htdocs", "index.html")])
    // msync: outside the base, and from a CLI that does not say where it stands
    expect(resolvePaths(base, root, ["htdocs/index.html"])).toEqual(["htdocs/index.html"])
    expect(resolvePaths(base, undefined, ["htdocs/index.html"])).toEqual(["htdocs/index.html"])
    // a sibling whose name starts like the base is outside it
    expect(resolvePaths(base, `${base}2`, ["a"])).toEqual(["a"])
  })

  it("a base reached through a symlink: the client's physical cwd is inside it", () => {
    const { base, root } = tree()
    const viaLink = join(root, "link")
    expect(resolvePaths(viaLink, join(fs.realpathSync(base), "htdocs"), ["index.html"])).toEqual([join(viaLink, "htdocs", "index.html")])
  })

  it("a path not found names the base and the path that would have been found", () => {
    const { base, root } = tree()
    // standing in htdocs, typed the base-relative path
    expect(notFoundHint(base, join(base, "htdocs"), "htdocs/index.html")).toBe(
      `not found in the base ${base} (a relative PATH starts at the current directory ${join(base, "htdocs")}); ` +
        `did you mean index.html (${join(base, "htdocs", "index.html")})?`
    )
    // standing above the base, typed the path from there
    expect(notFoundHint(base, root, "www/htdocs/index.html")).toBe(
      `not found in the base ${base} (a relative PATH starts at the base when the current directory is outside it); did you mean htdocs/index.html?`
    )
    expect(notFoundHint(base, join(base, "htdocs"), "nothing.html")).toBe(
      `not found in the base ${base} (a relative PATH starts at the current directory ${join(base, "htdocs")})`
    )
    expect(notFoundHint(base, root, join(base, "gone"))).toBe(`not found in the base ${base}`)
  })
})
