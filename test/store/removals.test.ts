/**
 * A member's scan for removals under `--delete` on a real disk: what the manifest lacks under the roots, deepest
 * first; excluded paths, the temps of transfers in flight and what a symlink points at are spared; a directory
 * holding something spared stays; an unreadable directory fails the scan. Then the removals journaled with a
 * transaction's renames: a switch cut off after its journal removes them at the roll-forward, and a staged
 * directory that replaces a file, or a file a directory, is switched with them.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import { makeExclude } from "../../src/store/exclude.js"
import * as FileStore from "../../src/store/FileStore.js"
import { StoreError } from "../../src/store/FileStore.js"
import { rollForwardNow } from "../../src/store/journal.js"
import { scanRemovalsNow } from "../../src/store/removals.js"
import * as Staging from "../../src/store/staging.js"
import type { Entry } from "../../src/transfer/txn/messages.js"

const T = { sec: 1_700_000_000, nsec: 0 }
const uid = process.getuid?.() ?? 0
const gid = process.getgid?.() ?? 0
const file = (path: string, content: string): Entry => ({
  path, type: "file", size: Buffer.byteLength(content), mode: 0o644, uid, gid, mtime: T, digest: new Uint8Array(createHash("sha256").update(content).digest())
})
const dir = (path: string): Entry => ({ path, type: "directory", size: 0, mode: 0o755, uid, gid, mtime: T })

const setup = Effect.gen(function*() {
  const root = yield* tempDir
  const base = join(root, "base")
  fs.mkdirSync(base)
  const store = yield* FileStore.make(base)
  const write = (rel: string, content = rel) => {
    fs.mkdirSync(join(base, rel, ".."), { recursive: true })
    fs.writeFileSync(join(base, rel), content)
  }
  /** The scan with these roots, manifest paths, excludes and temps. */
  const scan = (roots: ReadonlyArray<string>, manifest: ReadonlyArray<string>, excludes: ReadonlyArray<string> = [], temps: ReadonlyArray<string> = [], named = false) =>
    scanRemovalsNow(store, {
      roots,
      named,
      exclude: makeExclude(base, excludes),
      inManifest: (rel) => manifest.includes(rel),
      isTemp: (rel) => temps.includes(rel)
    })
  return { root, base, store, write, scan }
})

const names = (dir: string) => fs.readdirSync(dir).sort()

describe("the scan for removals", () => {
  it.scoped("lists what the manifest lacks under the roots, deepest first; nothing outside the roots", () =>
    Effect.gen(function*() {
      const { write, scan } = yield* setup
      for (const rel of ["www/keep", "www/gone", "www/a/b/c/deep", "www/a/b/kept", "other/gone"]) write(rel)
      expect(scan(["www"], ["www", "www/keep", "www/a", "www/a/b", "www/a/b/kept"])).toEqual(["www/a/b/c/deep", "www/a/b/c", "www/gone"])
      // the whole base: "." or no roots
      expect(scan([], ["www", "www/keep", "www/gone", "www/a", "www/a/b", "www/a/b/c", "www/a/b/c/deep", "www/a/b/kept"])).toEqual(["other/gone", "other"])
      expect(scan(["."], ["other", "other/gone", "www"])).toEqual(["www/a/b/c/deep", "www/a/b/c", "www/a/b/kept", "www/a/b", "www/a", "www/gone", "www/keep"])
      // a root the sender no longer has goes whole; one the member lacks is nothing to remove
      expect(scan(["other", "nowhere"], [])).toEqual(["other/gone", "other"])
    }))

  it.scoped("spares excluded paths (not descended into) and temps, and keeps a directory that holds one", () =>
    Effect.gen(function*() {
      const { write, scan } = yield* setup
      for (const rel of ["d/x.log", "d/y", "cache/big", "e/f.makuo123456789", "e/g", "anchored/z"]) write(rel)
      expect(scan(["."], [], ["*.log", "cache/", "/anchored"], ["e/f.makuo123456789"])).toEqual(["d/y", "e/g"])
      // without the excludes and temps, all of it
      expect(scan(["."], [])).toEqual(["anchored/z", "anchored", "cache/big", "cache", "d/x.log", "d/y", "d", "e/f.makuo123456789", "e/g", "e"])
    }))

  it.scoped("never follows a symlink: a link to a directory is listed as the link; a root under a symlinked parent is nothing", () =>
    Effect.gen(function*() {
      const { root, base, write, scan } = yield* setup
      fs.mkdirSync(join(root, "outside"))
      fs.writeFileSync(join(root, "outside/precious"), "not under the base")
      write("d/f")
      fs.symlinkSync(join(root, "outside"), join(base, "d/link"))
      fs.symlinkSync(join(root, "outside"), join(base, "top"))
      expect(scan(["d", "top/precious"], ["d", "d/f"])).toEqual(["d/link"])
      expect(scan(["top"], [])).toEqual(["top"])
    }))

  it.scoped("sync (named roots): each root the manifest lacks is removed whole, nothing listed below it, never the base", () =>
    Effect.gen(function*() {
      const { write, scan } = yield* setup
      for (const rel of ["gone/a/b", "gone/x.log", "file", "kept/y", "t.makuo123456789"]) write(rel)
      expect(scan(["gone", "file", "kept", "missing", ".", "t.makuo123456789"], ["kept"], [], ["t.makuo123456789"], true)).toEqual(["gone", "file"])
    }))

  it.scoped("a directory that cannot be listed fails the scan with its errno", () =>
    Effect.gen(function*() {
      const { base, write, scan } = yield* setup
      write("d/locked/f")
      fs.chmodSync(join(base, "d/locked"), 0)
      try {
        const r = scan(["d"], [])
        // root reads any directory: then the scan goes through
        if (process.geteuid?.() === 0) expect(r).toEqual(["d/locked/f", "d/locked", "d"])
        else expect(r instanceof StoreError && r.errno).toBe(13)
      } finally {
        fs.chmodSync(join(base, "d/locked"), 0o755)
      }
      expect(scan(["../x"], []) instanceof StoreError).toBe(true)
    }))

  it.scoped("removals journaled with the renames: a switch cut off after its journal removes them at the roll-forward, the types swapped too", () =>
    Effect.gen(function*() {
      const { root, base, store, write, scan } = yield* setup
      const journal = join(root, "journal")
      write("gone/deep/f")
      write("stale")
      write("was-file")
      write("was-dir/inner")
      const staging = Staging.make(store, { keepSetId: false, journalDir: journal, take: () => true, give: () => {}, notice: () => {}, held: Staging.heldBudget(Infinity) })
      // the sender has a directory where the member has a file, and a file where it has a directory
      const entries = [dir("was-file"), file("was-file/n", "n"), file("was-dir", "now a file")]
      for (const e of entries) {
        if (staging.lookupNow(e) === "contents") staging.writeNow(e, 0, Buffer.from(e.path === "was-dir" ? "now a file" : "n"))
        expect(staging.stageNow(e)).toBe(0)
      }
      const removals = scan(["."], entries.map((e) => e.path), [], staging.tempsNow())
      expect(removals).toEqual(["gone/deep/f", "gone/deep", "gone", "stale", "was-dir/inner"])
      const crash = new Error("killed")
      expect(() => staging.switchNow(4, entries, removals as Array<string>, { afterIntent: () => { throw crash } })).toThrow(crash)
      expect(names(base).filter((n) => !FileStore.isTempName(n))).toEqual(["gone", "stale", "was-dir", "was-file"])
      const { lines } = rollForwardNow(journal, store)
      expect(lines[0]).toMatch(/rolled forward transaction 4 .*5 removals/)
      expect(names(base)).toEqual(["was-dir", "was-file"])
      expect(fs.readFileSync(join(base, "was-dir"), "utf8")).toBe("now a file")
      expect(names(join(base, "was-file"))).toEqual(["n"])
    }))

  it.scoped("a removal's roll-forward takes a directory only when empty: what was written into it after the journal stays", () =>
    Effect.gen(function*() {
      const { root, base, store, write, scan } = yield* setup
      const journal = join(root, "journal")
      write("gone/deep/f")
      write("stale")
      const staging = Staging.make(store, { keepSetId: false, journalDir: journal, take: () => true, give: () => {}, notice: () => {}, held: Staging.heldBudget(Infinity) })
      const removals = scan(["."], [], [], [])
      expect(removals).toEqual(["gone/deep/f", "gone/deep", "gone", "stale"])
      const crash = new Error("killed")
      expect(() => staging.switchNow(5, [], removals as Array<string>, { afterIntent: () => { throw crash } })).toThrow(crash)
      // written while the daemon was down, after the journal that lists its directory
      write("gone/new")
      rollForwardNow(journal, store)
      expect(names(base)).toEqual(["gone"])
      expect(names(join(base, "gone"))).toEqual(["new"])
    }))
})
