import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import { makeExclude } from "../../src/store/exclude.js"
import * as FileStore from "../../src/store/FileStore.js"
import { walk } from "../../src/store/scan.js"

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

describe("FileStore never waits on a FIFO", () => {
  it.scoped("a FIFO put where a file was is refused at once by every reader (a clear error naming it), never opened for a wait", () =>
    Effect.gen(function*() {
      const { base, store } = yield* setup
      fs.mkdirSync(join(base, "d"))
      fs.writeFileSync(join(base, "d/f"), "data")
      const [scanned] = store.listNow("d") as ReadonlyArray<{ readonly entry: FileStore.LocalEntry }>
      fs.rmSync(join(base, "d/f"))
      execFileSync("mkfifo", [join(base, "d/f")])
      // a blocking open would wait for a writer forever: this one comes after 2 s (an O_RDWR open of a FIFO never
      // waits), so such an open returns a reader late instead of hanging the test
      const writer = spawn("sh", ["-c", "sleep 2; exec 3<>\"$1\"; exec sleep 10", "sh", join(base, "d/f")], { stdio: "ignore" })
      yield* Effect.addFinalizer(() => Effect.sync(() => writer.kill()))
      const refused = { _tag: "StoreError", code: "ENOTSUP", message: "open d/f: not a regular file: a FIFO, socket or device" }
      expect(yield* Effect.flip(store.openReader("d/f"))).toMatchObject(refused)
      expect(yield* Effect.flip(store.digest("d/f"))).toMatchObject(refused)
      expect(store.openReaderNow("d/f", scanned!.entry.identity)).toMatchObject(refused)
    }))
})

/**
 * Runs `f` with every descriptor this process may open taken: the soft RLIMIT_NOFILE lowered (prlimit) to just
 * above the descriptors open now and the rest filled. Restored afterwards. `f` must not yield to the event loop.
 */
const withoutDescriptors = <A>(f: () => A): A => {
  const [, soft, hard] = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(fs.readFileSync("/proc/self/limits", "utf8"))!
  const highest = Math.max(...fs.readdirSync("/proc/self/fd").map(Number))
  const setLimit = (n: string) => execFileSync("prlimit", [`--pid=${process.pid}`, `--nofile=${n}:${hard}`])
  const limit = highest + 32
  setLimit(String(limit))
  const fillers: Array<number> = []
  try {
    // the free numbers below the limit: those above `highest` and the gaps below it
    for (let i = 0; i <= limit; i++) {
      try {
        fillers.push(fs.openSync("/dev/null", "r"))
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EMFILE") break
        throw e
      }
    }
    return f()
  } finally {
    for (const fd of fillers) fs.closeSync(fd)
    setLimit(soft!)
  }
}

describe("FileStore out of descriptors", () => {
  it.scoped("every operation returns EMFILE as a StoreError; none throws (it would kill the daemon from a socket callback)", () =>
    Effect.gen(function*() {
      const { base, store } = yield* setup
      fs.mkdirSync(join(base, "d"))
      fs.writeFileSync(join(base, "d/f"), "data")
      const [scanned] = store.listNow("d") as ReadonlyArray<{ readonly entry: FileStore.LocalEntry }>
      const outcome = (f: () => unknown) => {
        try {
          const r = f()
          return r instanceof FileStore.StoreError ? r.code : "no error"
        } catch (e) {
          return `threw ${String(e)}`
        }
      }
      const effect = (e: Effect.Effect<unknown, FileStore.StoreError>) => () => Option.getOrUndefined(Either.getLeft(Effect.runSync(Effect.either(e))))
      const operations: Record<string, () => unknown> = {
        inspect: () => store.inspectNow("d/f"),
        inspectHolding: () => store.inspectHoldingNow("d/f"),
        createTemp: () => store.createTempNow("d/g"),
        ensureDirectory: () => store.ensureDirectoryNow("d/e", meta(0o40755)),
        finishDirectory: () => store.finishDirectoryNow("d", meta(0o40755)),
        placeSymlink: () => store.placeSymlinkNow("d/l", "f", meta(0o120777)),
        openReaderNow: () => store.openReaderNow("d/f", scanned!.entry.identity),
        openReader: effect(store.openReader("d/f")),
        digest: effect(store.digest("d/f")),
        list: () => store.listNow("d"),
        listBase: () => store.listNow("."),
        listKinds: () => store.listKindsNow("d"),
        removeStaleTemp: () => store.removeStaleTempNow("d/f.makuo123456", Date.now()),
        remove: () => store.removeNow("d/f")
      }
      const outcomes = withoutDescriptors(() => Object.fromEntries(Object.entries(operations).map(([name, f]) => [name, outcome(f)])))
      expect(outcomes).toEqual(Object.fromEntries(Object.keys(operations).map((name) => [name, "EMFILE"])))
      // and the store works again once descriptors are free
      expect(fs.readdirSync(join(base, "d"))).toEqual(["f"])
      expect(Option.isSome(yield* store.inspect("d/f"))).toBe(true)
    }))
})

describe("FileStore temp files in flight", () => {
  it.scoped("a scan skips the temp file of a transfer in flight, and only that: a file merely named like a temp file is content", () =>
    Effect.gen(function*() {
      const { base, store } = yield* setup
      fs.mkdirSync(join(base, "d"))
      fs.writeFileSync(join(base, "d/shell.php.makuo123456"), "planted")
      const t = yield* store.createTemp("d/page.html")
      const scanned = () => [...walk(store, { paths: [], recursive: true, exclude: makeExclude(base, []) })].map((i) => i.rel)
      expect(fs.readdirSync(join(base, "d")).sort()).toEqual([t.temp, "shell.php.makuo123456"].sort())
      expect([store.isLiveTemp(`d/${t.temp}`), store.isLiveTemp(`./d/${t.temp}`), store.isLiveTemp("d/shell.php.makuo123456")]).toEqual([true, true, false])
      expect(scanned()).toEqual(["d/shell.php.makuo123456", "d"])
      store.discardNow(t)
      expect(store.isLiveTemp(`d/${t.temp}`)).toBe(false)
      const committed = yield* store.createTemp("d/page.html")
      yield* store.commit(committed, meta(0o644), 0)
      expect(store.isLiveTemp(`d/${committed.temp}`)).toBe(false)
    }))
})
