import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import * as FileStore from "../../src/store/FileStore.js"
import { addonDirLister, type Lister, nodeLister } from "../../src/store/listing.js"

const addon = addonDirLister()

/** A name that is no UTF-8 (Latin-1 "café"), as the file system holds it. */
const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9])

/** A tree with every kind of entry a listing meets; the paths of its directories. */
const makeTree = (base: string): ReadonlyArray<string> => {
  fs.mkdirSync(join(base, "d/sub"), { recursive: true })
  for (let i = 0; i < 40; i++) fs.writeFileSync(join(base, "d", `f${i}`), "x".repeat(i))
  fs.writeFileSync(Buffer.concat([Buffer.from(join(base, "d") + "/"), latin1]), "latin-1 name")
  fs.writeFileSync(join(base, "d/ü-\u{1F600}"), "utf-8 name")
  fs.writeFileSync(join(base, "d/\uFEFFbom"), "a leading byte order mark is part of the name")
  fs.symlinkSync("f1", join(base, "d/rel-link"))
  fs.symlinkSync("/etc/passwd", join(base, "d/abs-link"))
  fs.symlinkSync(latin1, join(base, "d/latin1-link"))
  fs.symlinkSync("x".repeat(4000), join(base, "d/long-link"))
  execFileSync("mkfifo", [join(base, "d/fifo")])
  // a time to the last nanosecond of a second: the entry's whole seconds are that second, not the next
  execFileSync("touch", ["-h", "-m", "-d", "@1700000000.999999999", join(base, "d/f2")])
  fs.mkdirSync(join(base, "closed"), { mode: 0o000 })
  fs.mkdirSync(join(base, "unsearchable"))
  fs.writeFileSync(join(base, "unsearchable/f"), "")
  fs.chmodSync(join(base, "unsearchable"), 0o444)
  fs.mkdirSync(join(base, "empty"))
  return [".", "d", "d/sub", "closed", "unsearchable", "empty"]
}

const setup = Effect.gen(function*() {
  const root = yield* tempDir
  const base = join(root, "base")
  fs.mkdirSync(base)
  const dirs = makeTree(base)
  // the modes above keep a non-root test from removing the tree afterwards
  yield* Effect.addFinalizer(() => Effect.sync(() => ["closed", "unsearchable"].forEach((d) => fs.chmodSync(join(base, d), 0o755))))
  return { base, dirs, store: yield* FileStore.make(base) }
})

describe("a directory's listing", () => {
  it.scoped("has each entry's kind, mode, size, link target and times to the nanosecond, and its whole seconds rounded down", () =>
    Effect.gen(function*() {
      const { base, store } = yield* setup
      const listed = store.listNow("d") as ReadonlyArray<{ readonly name: string; readonly entry: FileStore.LocalEntry }>
      const entry = (name: string) => listed.find((l) => l.name === name)!.entry
      const st = fs.lstatSync(join(base, "d/f2"), { bigint: true })
      expect(entry("f2")).toMatchObject({
        kind: "file",
        mode: Number(st.mode),
        size: 2,
        mtime: 1_700_000_000,
        identity: { dev: Number(st.dev), ino: Number(st.ino) },
        version: { size: 2, mtimeNs: 1_700_000_000_999_999_999n, ctimeNs: st.ctimeNs }
      })
      expect(Option.getOrThrow(store.inspectNow("d/f2") as Option.Option<FileStore.LocalEntry>)).toEqual(entry("f2"))
      expect(entry("fifo").kind).toBe("other")
      expect(entry("rel-link")).toMatchObject({ kind: "symlink", linkTarget: "f1" })
      expect(entry("long-link").linkTarget).toBe("x".repeat(4000))
      expect(entry(FileStore.nameOf(latin1))).toMatchObject({ kind: "file", size: 12 })
      expect(entry("latin1-link").linkTarget).toBe(FileStore.nameOf(latin1))
      expect(listed.map((l) => l.name)).toEqual(listed.map((l) => l.name).sort())
    }))

  it.scoped.skipIf(typeof addon === "string")("the addon's listing is Node's: the same entries, in the same order, or the same failure", () =>
    Effect.gen(function*() {
      const { base, dirs, store } = yield* setup
      const lister = addon as Lister
      for (const dir of dirs) expect(store.listNow(dir, lister), dir).toEqual(store.listNow(dir, nodeLister))
      // a directory removed while it is open (empty), and a descriptor that is no directory (a failure, said alike)
      const gone = fs.openSync(join(base, "empty"), "r")
      const file = fs.openSync(join(base, "d/f1"), "r")
      try {
        fs.rmdirSync(join(base, "empty"))
        for (const fd of [gone, file]) {
          const fail = (list: Lister) => {
            try {
              return list(fd, (name) => `/proc/self/fd/${fd}/${name}`)
            } catch (e) {
              return FileStore.errnoOf(e)
            }
          }
          const failure = fail(nodeLister)
          expect(failure).toEqual(fd === gone ? [] : expect.objectContaining({ code: "ENOTDIR" }))
          expect(fail(lister)).toEqual(failure)
        }
      } finally {
        fs.closeSync(gone)
        fs.closeSync(file)
      }
    }))

  it.scoped.skipIf(typeof addon === "string")("the addon's listing of a directory larger than its buffers is whole", () =>
    Effect.gen(function*() {
      const { base, store } = yield* setup
      const lister = addon as Lister
      fs.mkdirSync(join(base, "big"))
      // more entries (1024 kept) and more name bytes (64 KiB kept) than the buffers kept between listings hold
      for (let i = 0; i < 1500; i++) fs.writeFileSync(join(base, "big", `${"n".repeat(60)}${i}`), "")
      const listed = store.listNow("big", lister) as ReadonlyArray<{ readonly name: string }>
      expect(listed.length).toBe(1500)
      expect(listed).toEqual(store.listNow("big", nodeLister))
      expect(store.listNow("d", lister)).toEqual(store.listNow("d", nodeLister))
    }))
})
