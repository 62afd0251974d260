import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import { sweepStaleTemps } from "../../src/daemon/staleTempSweep.js"
import * as FileStore from "../../src/store/FileStore.js"

/** Every path under `dir`, never through a symlink (node's recursive readdir follows them). */
const tree = (dir: string, prefix = ""): Array<string> =>
  fs.readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((d) => {
    const rel = prefix === "" ? d.name : `${prefix}/${d.name}`
    return d.isDirectory() ? [rel, ...tree(dir, rel)] : [rel]
  }).sort()

describe("the start-up sweep of stale temp files", () => {
  it.scoped("removes the temp files older than the daemon, and nothing else: not content, not newer temps, nothing through a symlink", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const base = join(root, "base")
      const outside = join(root, "outside")
      fs.mkdirSync(join(base, "a/b"), { recursive: true })
      fs.mkdirSync(outside)
      fs.writeFileSync(join(base, "a/b/page.html"), "old page, intact")
      fs.writeFileSync(join(base, "a/b/page.html.makuo123456789"), "half of the new page")
      fs.writeFileSync(join(base, "top.makuo000123456"), "another")
      fs.symlinkSync("target", join(base, "a/link.makuo001654321"))
      fs.mkdirSync(join(base, "a/dir.makuo000000001")) // a directory of that name is content, whatever its name
      fs.writeFileSync(join(base, "a/notes.makuo12"), "too few digits: not a temp name")
      fs.writeFileSync(join(outside, "x.makuo123456789"), "outside the base")
      fs.symlinkSync(outside, join(base, "out"))
      const store = yield* FileStore.make(base)
      const run = (before: number) => sweepStaleTemps(before).pipe(Effect.provideService(FileStore.FileStore, store))

      // every temp file is newer than a daemon started a minute ago: all kept
      expect(yield* run(Date.now() - 60_000)).toEqual({ removed: 0, problems: 0, directories: 4 })
      expect(tree(base)).toContain("a/b/page.html.makuo123456789")

      expect(yield* run(Date.now() + 1_000)).toEqual({ removed: 3, problems: 0, directories: 4 })
      expect(tree(base)).toEqual(["a", "a/b", "a/b/page.html", "a/dir.makuo000000001", "a/notes.makuo12", "out"])
      expect(fs.readFileSync(join(base, "a/b/page.html"), "utf8")).toBe("old page, intact")
      expect(fs.readdirSync(outside)).toEqual(["x.makuo123456789"])
    }))
})
