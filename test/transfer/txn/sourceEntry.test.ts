/**
 * A scanned file as a manifest entry (`sourceEntry.ts`), on a real tree:
 * - a small file costs one open, one read and one version check after the read (the open's own `fstat` is the
 *   version before), and its digest is the SHA-256 of its contents;
 * - a file that changes while it is hashed is hashed again, and reported once it keeps changing;
 * - a file larger than one read is left to the chunked pass, which gives the same entry;
 * - after hashing, the path is looked at again for the inode hashed, by a name's own bytes: another file reached
 *   through a planted symlink, even of the same name, size and times, is changed.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { tempDir } from "../../../scripts/lib/loopbackCluster.js"
import * as FileStore from "../../../src/store/FileStore.js"
import { changedSinceHashedNow, prepare, prepareNow, type SourceEntry } from "../../../src/transfer/txn/sourceEntry.js"

/** The store, with a count of what each reader it opens does; `version` may replace a version check's answer. */
const counted = (store: FileStore.FileStoreShape, version?: (real: FileStore.FileVersion, call: number) => FileStore.FileVersion) => {
  const calls = { open: 0, read: 0, version: 0 }
  const wrapped: FileStore.FileStoreShape = {
    ...store,
    openReaderNow: (rel, identity) => {
      calls.open++
      const reader = store.openReaderNow(rel, identity)
      if (reader instanceof FileStore.StoreError) return reader
      return {
        ...reader,
        readvNow: (offset, into) => (calls.read++, reader.readvNow(offset, into)),
        versionNow: () => {
          const real = reader.versionNow()
          calls.version++
          return version === undefined || real instanceof FileStore.StoreError ? real : version(real, calls.version)
        }
      }
    }
  }
  return { calls, store: wrapped }
}

const scanned = (store: FileStore.FileStoreShape, rel: string) =>
  Effect.map(store.inspect(rel), (found) => Option.getOrThrow(found))

const sha256 = (bytes: Uint8Array) => new Uint8Array(createHash("sha256").update(bytes).digest())

describe("sourceEntry", () => {
  it.scoped("a small file: one open, one read, one version check after it; its digest is its contents' SHA-256", () =>
    Effect.gen(function*() {
      const base = yield* tempDir
      const contents = Uint8Array.from({ length: 2500 }, (_, i) => (i * 7) & 0xff)
      fs.writeFileSync(join(base, "f"), contents)
      const real = yield* FileStore.make(base)
      const { calls, store } = counted(real)
      const p = (yield* prepare(store, "f", yield* scanned(real, "f"))) as SourceEntry
      expect(p.entry.digest).toEqual(sha256(contents))
      expect(p.entry.size).toBe(contents.length)
      expect(p.file?.version.size).toBe(contents.length)
      expect(calls).toEqual({ open: 1, read: 1, version: 1 })
    }))

  it.scoped("a file whose name is no UTF-8 is checked by its own bytes after hashing: unchanged, not gone", () =>
    Effect.gen(function*() {
      const base = yield* tempDir
      const name = Buffer.from([0x66, 0xff, 0x2e, 0x74])
      fs.writeFileSync(Buffer.concat([Buffer.from(`${base}/`), name]), "kept")
      const store = yield* FileStore.make(base)
      const rel = FileStore.nameOf(name)
      const p = prepareNow(store, rel, yield* scanned(store, rel)) as SourceEntry
      expect(p.entry.digest).toEqual(sha256(Buffer.from("kept")))
      expect(changedSinceHashedNow(store, rel, p.file!)).toBeUndefined()
      fs.writeFileSync(Buffer.concat([Buffer.from(`${base}/`), name]), "other")
      expect(changedSinceHashedNow(store, rel, p.file!)).toBeDefined()
    }))

  /** d/f (kept contents) and the directory d/sub (mtime 1e9 s + 0.5), hashed and scanned; `outside` beside the base. */
  const hashedTree = Effect.gen(function*() {
    const root = yield* tempDir
    const base = join(root, "base")
    const outside = join(root, "outside")
    fs.mkdirSync(join(base, "d/sub"), { recursive: true })
    fs.mkdirSync(outside)
    fs.writeFileSync(join(base, "d/f"), "kept")
    fs.utimesSync(join(base, "d/sub"), 1_000_000_000.5, 1_000_000_000.5)
    const store = yield* FileStore.make(base)
    const file = (prepareNow(store, "d/f", yield* scanned(store, "d/f"), 8192) as SourceEntry).file!
    const sub = yield* scanned(store, "d/sub")
    const subMtime = () => (prepareNow(store, "d/sub", sub) as SourceEntry).entry.mtime
    expect(changedSinceHashedNow(store, "d/f", file)).toBeUndefined()
    expect(subMtime()).toEqual({ sec: 1_000_000_000, nsec: 500_000_000 })
    return { base, outside, store, file, subMtime }
  })

  it.scoped("after hashing, a parent replaced by a symlink to another directory: the file reads as gone, a directory's mtime as the scan's seconds", () =>
    Effect.gen(function*() {
      const { base, file, outside, store, subMtime } = yield* hashedTree
      fs.renameSync(join(base, "d"), join(base, "old"))
      fs.symlinkSync(outside, join(base, "d"))
      expect(changedSinceHashedNow(store, "d/f", file)).toBe("gone or replaced")
      expect(subMtime()).toEqual({ sec: 1_000_000_000, nsec: 0 })
    }))

  it.scoped("after hashing, a parent replaced by a symlink to a directory holding another file and directory of the same names, sizes and times: changed", () =>
    Effect.gen(function*() {
      const { base, file, outside, store, subMtime } = yield* hashedTree
      fs.mkdirSync(join(outside, "sub"))
      fs.writeFileSync(join(outside, "f"), "kept")
      const mtime = fs.lstatSync(join(base, "d/f")).mtime
      fs.utimesSync(join(outside, "f"), mtime, mtime)
      fs.utimesSync(join(outside, "sub"), 1_000_000_000.5, 1_000_000_000.5)
      fs.renameSync(join(base, "d"), join(base, "old"))
      fs.symlinkSync(outside, join(base, "d"))
      expect(changedSinceHashedNow(store, "d/f", file)).toBe("gone or replaced")
      expect(subMtime()).toEqual({ sec: 1_000_000_000, nsec: 0 })
    }))

  it.scoped("after hashing, the same inodes reached through a parent replaced by a symlink are the same file: unchanged, nothing else told", () =>
    Effect.gen(function*() {
      const { base, file, store, subMtime } = yield* hashedTree
      fs.renameSync(join(base, "d"), join(base, "real"))
      fs.symlinkSync("real", join(base, "d"))
      expect(changedSinceHashedNow(store, "d/f", file)).toBeUndefined()
      expect(subMtime()).toEqual({ sec: 1_000_000_000, nsec: 500_000_000 })
      fs.writeFileSync(join(base, "real/f"), "other")
      expect(changedSinceHashedNow(store, "d/f", file)).toBeDefined()
    }))

  it.scoped("a small file that changes while it is hashed is hashed again; one that keeps changing is reported", () =>
    Effect.gen(function*() {
      const base = yield* tempDir
      const contents = new Uint8Array(100).fill(3)
      fs.writeFileSync(join(base, "f"), contents)
      const real = yield* FileStore.make(base)
      const local = yield* scanned(real, "f")
      // the first check after reading sees a newer ctime: the read may be of two versions
      const once = counted(real, (v, call) => (call === 1 ? { ...v, ctimeNs: v.ctimeNs + 1n } : v))
      const p = prepareNow(once.store, "f", local) as SourceEntry
      expect(p.entry.digest).toEqual(sha256(contents))
      expect(once.calls.open).toBe(2)
      const always = counted(real, (v) => ({ ...v, size: v.size + 1 }))
      expect(prepareNow(always.store, "f", local)).toEqual({ problem: expect.stringMatching(/^changed while it was hashed \(3 times; last: size/) })
    }))

  it.scoped("a file larger than one read is left to the chunked pass, which gives the same entry", () =>
    Effect.gen(function*() {
      const base = yield* tempDir
      const contents = Uint8Array.from({ length: 600 * 1024 }, (_, i) => (i * 31) & 0xff)
      fs.writeFileSync(join(base, "big"), contents)
      const store = yield* FileStore.make(base)
      const local = yield* scanned(store, "big")
      expect(prepareNow(store, "big", local)).toBeUndefined()
      const p = (yield* prepare(store, "big", local)) as SourceEntry
      expect(p.entry.digest).toEqual(sha256(contents))
      expect(p.entry.size).toBe(contents.length)
    }))
})
