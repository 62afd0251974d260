import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import * as FileStore from "../../src/store/FileStore.js"

const meta = (mode: number, mtime = 1_700_000_000) => ({ mode, uid: 0, gid: 0, mtime })

const setup = Effect.gen(function*() {
  const root = yield* tempDir
  const base = join(root, "base")
  const outside = join(root, "outside")
  fs.mkdirSync(base)
  fs.mkdirSync(outside)
  return { base, outside, store: yield* FileStore.make(base) }
})

const write = (store: FileStore.FileStoreShape, t: FileStore.TempFile, offset: number, bytes: Uint8Array) =>
  Effect.suspend(() => {
    const failed = store.writevNow(t, offset, [bytes])
    return failed === undefined ? Effect.void : Effect.fail(failed)
  })

const writeFile = (store: FileStore.FileStoreShape, rel: string, content: string, mode = 0o644) =>
  Effect.gen(function*() {
    const t = yield* store.createTemp(rel)
    yield* write(store, t, 0, Buffer.from(content))
    yield* store.commit(t, meta(mode), Buffer.byteLength(content))
  })

describe("FileStore confinement", () => {
  it.scoped("a planted symlink parent is never followed: reads and removals through it are refused (ELOOP)", () =>
    Effect.gen(function*() {
      const { base, outside, store } = yield* setup
      fs.symlinkSync(outside, join(base, "a"))
      fs.writeFileSync(join(outside, "x"), "outside")
      expect(yield* Effect.flip(store.remove("a/x"))).toMatchObject({ code: "ELOOP", errno: 40 })
      expect(yield* Effect.flip(store.openReader("a/x"))).toMatchObject({ code: "ELOOP" })
      expect(Option.isNone(yield* store.inspect("a/x"))).toBe(true)
      expect(fs.readFileSync(join(outside, "x"), "utf8")).toBe("outside")
    }))

  it.scoped("the sender's fast open reads only the file its scan saw: a parent swapped for a symlink since is refused (ESTALE)", () =>
    Effect.gen(function*() {
      const { base, outside, store } = yield* setup
      fs.mkdirSync(join(base, "a"))
      fs.writeFileSync(join(base, "a/x"), "inside")
      const [scanned] = store.listNow("a") as ReadonlyArray<{ readonly entry: FileStore.LocalEntry }>
      const reader = store.openReaderNow("a/x", scanned!.entry.identity) as FileStore.Reader
      expect(reader.size).toBe(6)
      reader.closeNow()
      fs.writeFileSync(join(outside, "x"), "secret")
      fs.renameSync(join(base, "a"), join(base, "moved"))
      fs.symlinkSync(outside, join(base, "a"))
      expect(store.openReaderNow("a/x", scanned!.entry.identity)).toMatchObject({ _tag: "StoreError", code: "ESTALE" })
    }))

  it.scoped("writing below a planted symlink replaces the link with a real directory; nothing reaches its target", () =>
    Effect.gen(function*() {
      const { base, outside, store } = yield* setup
      fs.symlinkSync(outside, join(base, "a"))
      yield* writeFile(store, "a/passwd", "mine")
      expect(fs.readdirSync(outside)).toEqual([])
      expect(fs.lstatSync(join(base, "a")).isDirectory()).toBe(true)
      expect(fs.readFileSync(join(base, "a/passwd"), "utf8")).toBe("mine")
      fs.rmSync(join(base, "a"), { recursive: true })
      fs.symlinkSync(outside, join(base, "a"))
      yield* store.ensureDirectory("a/sub", meta(0o40755))
      expect(fs.readdirSync(outside)).toEqual([])
    }))

  it.scoped("absolute, '..' and empty paths are refused before any system call", () =>
    Effect.gen(function*() {
      const { store } = yield* setup
      for (const bad of ["/etc/passwd", "../x", "a/../../x", "a//b", ""]) {
        expect(yield* Effect.flip(writeFile(store, bad, "x"))).toMatchObject({ code: "EACCES" })
      }
    }))

  it.scoped("the final component is not followed either: a symlink at the target is replaced, its target untouched", () =>
    Effect.gen(function*() {
      const { base, outside, store } = yield* setup
      fs.writeFileSync(join(outside, "victim"), "keep")
      fs.symlinkSync(join(outside, "victim"), join(base, "f"))
      yield* writeFile(store, "f", "new")
      expect(fs.lstatSync(join(base, "f")).isFile()).toBe(true)
      expect(fs.readFileSync(join(outside, "victim"), "utf8")).toBe("keep")
    }))
})

describe("FileStore atomic replace", () => {
  it.scoped("commit sets mode and mtime on the temp file and renames it; no temp file is left", () =>
    Effect.gen(function*() {
      const { base, store } = yield* setup
      yield* writeFile(store, "d/e/f.txt", "hello", 0o640)
      const st = fs.statSync(join(base, "d/e/f.txt"))
      expect([st.mode & 0o7777, Math.floor(st.mtimeMs / 1000)]).toEqual([0o640, 1_700_000_000])
      expect(fs.readdirSync(join(base, "d/e"))).toEqual(["f.txt"])
      const entry = Option.getOrThrow(yield* store.inspect("d/e/f.txt"))
      expect(entry).toMatchObject({ kind: "file", size: 5, mtime: 1_700_000_000 })
    }))

  it.scoped("a commit with the wrong size is refused and leaves the old file", () =>
    Effect.gen(function*() {
      const { base, store } = yield* setup
      yield* writeFile(store, "f", "old")
      const t = yield* store.createTemp("f")
      yield* write(store, t, 0, Buffer.from("ne"))
      expect(yield* Effect.flip(store.commit(t, meta(0o644), 3))).toMatchObject({ op: "commit" })
      expect([fs.readFileSync(join(base, "f"), "utf8"), fs.readdirSync(base)]).toEqual(["old", ["f"]])
    }))

  it.scoped("type changes: file over directory, directory over file, symlink over directory", () =>
    Effect.gen(function*() {
      const { base, store } = yield* setup
      fs.mkdirSync(join(base, "x/y"), { recursive: true })
      yield* writeFile(store, "x", "now a file")
      expect(fs.readFileSync(join(base, "x"), "utf8")).toBe("now a file")
      yield* store.ensureDirectory("x", meta(0o40750))
      expect(fs.statSync(join(base, "x")).mode & 0o7777).toBe(0o750)
      yield* store.placeSymlink("x", "target", meta(0o120777))
      expect(fs.readlinkSync(join(base, "x"))).toBe("target")
      expect(fs.readdirSync(base)).toEqual(["x"])
      // a file below a path that is a file on the member: the parent becomes a directory
      yield* writeFile(store, "p", "file")
      yield* writeFile(store, "p/q", "child")
      expect(fs.readFileSync(join(base, "p/q"), "utf8")).toBe("child")
    }))
})
