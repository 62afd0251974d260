/**
 * A scanned file as a manifest entry (`sourceEntry.ts`), on a real tree:
 * - without its digest (a send's), a file is never opened: its entry is the scan's, nothing looked at again (what
 *   the pump reads for the members is checked against it: TxnSend.test.ts, "changed after it was scanned");
 * - with it (`--checksum`, `check`), a small file costs one open, one read and one version check after the read
 *   (the open's own `fstat` is the version before), and its digest is the SHA-256 of its contents;
 * - a file that changes while it is hashed is hashed again, and reported once it keeps changing;
 * - a file larger than one read is left to the chunked pass, which gives the same entry.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { tempDir } from "../../../scripts/lib/loopbackCluster.js"
import * as FileStore from "../../../src/store/FileStore.js"
import { prepare, prepareNow, type SourceEntry } from "../../../src/transfer/txn/sourceEntry.js"

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
      const p = (yield* prepare(store, "f", yield* scanned(real, "f"), true)) as SourceEntry
      expect(p.entry.digest).toEqual(sha256(contents))
      expect(p.entry.size).toBe(contents.length)
      expect(p.file?.version.size).toBe(contents.length)
      expect(calls).toEqual({ open: 1, read: 1, version: 1 })
    }))

  it.scoped("without its digest, a file of any size is never opened: its entry has the scanned inode's version to the nanosecond", () =>
    Effect.gen(function*() {
      const base = yield* tempDir
      fs.writeFileSync(join(base, "small"), "kept")
      fs.writeFileSync(join(base, "big"), new Uint8Array(600 * 1024))
      fs.utimesSync(join(base, "big"), 1_000_000_000.25, 1_000_000_000.25)
      const real = yield* FileStore.make(base)
      const { calls, store } = counted(real)
      const small = prepareNow(store, "small", yield* scanned(real, "small"), false) as SourceEntry
      const big = (yield* prepare(store, "big", yield* scanned(real, "big"), false)) as SourceEntry
      expect(calls).toEqual({ open: 0, read: 0, version: 0 })
      expect(small.entry).not.toHaveProperty("digest")
      expect(small.entry.size).toBe(4)
      expect(big.entry).toMatchObject({ size: 600 * 1024, mtime: { sec: 1_000_000_000, nsec: 250_000_000 } })
      expect(big.file?.version.size).toBe(600 * 1024)
    }))

  it.scoped("a file whose name is no UTF-8 is looked at by its own bytes: found, not gone; hashed the same", () =>
    Effect.gen(function*() {
      const base = yield* tempDir
      const name = Buffer.from([0x66, 0xff, 0x2e, 0x74])
      fs.writeFileSync(Buffer.concat([Buffer.from(`${base}/`), name]), "kept")
      const store = yield* FileStore.make(base)
      const rel = FileStore.nameOf(name)
      const local = yield* scanned(store, rel)
      expect((prepareNow(store, rel, local, false) as SourceEntry).entry.size).toBe(4)
      expect((prepareNow(store, rel, local, true) as SourceEntry).entry.digest).toEqual(sha256(Buffer.from("kept")))
    }))

  it.scoped("after the scan, a parent replaced by a symlink elsewhere: an entry without its digest is still the scan's, a directory's mtime to the nanosecond", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const base = join(root, "base")
      const outside = join(root, "outside")
      fs.mkdirSync(join(base, "d/sub"), { recursive: true })
      fs.mkdirSync(join(outside, "sub"), { recursive: true })
      fs.writeFileSync(join(base, "d/f"), "kept")
      fs.writeFileSync(join(outside, "f"), "other contents")
      fs.utimesSync(join(base, "d/sub"), 1_000_000_000.5, 1_000_000_000.5)
      const real = yield* FileStore.make(base)
      const f = yield* scanned(real, "d/f")
      const sub = yield* scanned(real, "d/sub")
      fs.renameSync(join(base, "d"), join(base, "old"))
      fs.symlinkSync(outside, join(base, "d"))
      const { calls, store } = counted(real)
      expect((prepareNow(store, "d/f", f, false) as SourceEntry).file).toEqual({ identity: f.identity, version: f.version })
      expect((prepareNow(store, "d/sub", sub, false) as SourceEntry).entry.mtime).toEqual({ sec: 1_000_000_000, nsec: 500_000_000 })
      expect(calls).toEqual({ open: 0, read: 0, version: 0 })
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
      const p = prepareNow(once.store, "f", local, true) as SourceEntry
      expect(p.entry.digest).toEqual(sha256(contents))
      expect(once.calls.open).toBe(2)
      const always = counted(real, (v) => ({ ...v, size: v.size + 1 }))
      expect(prepareNow(always.store, "f", local, true)).toEqual({ problem: expect.stringMatching(/^changed while it was hashed \(3 times; last: size/) })
    }))

  it.scoped("a file larger than one read is left to the chunked pass, which gives the same entry", () =>
    Effect.gen(function*() {
      const base = yield* tempDir
      const contents = Uint8Array.from({ length: 600 * 1024 }, (_, i) => (i * 31) & 0xff)
      fs.writeFileSync(join(base, "big"), contents)
      const store = yield* FileStore.make(base)
      const local = yield* scanned(store, "big")
      expect(prepareNow(store, "big", local, true)).toBeUndefined()
      const p = (yield* prepare(store, "big", local, true)) as SourceEntry
      expect(p.entry.digest).toEqual(sha256(contents))
      expect(p.entry.size).toBe(contents.length)
    }))
})
