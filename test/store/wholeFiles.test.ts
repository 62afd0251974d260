/**
 * Small files read whole, a burst's at a time (`store/wholeFiles.ts`): the addon's reader (native/makuo_fs.c
 * `readFiles`) and the store's say the same for every case — the bytes, the version after the read, the SHA-256
 * when asked; a name that is no UTF-8; a file replaced since the scan (ESTALE), a FIFO put in its place (refused,
 * never read), a file gone (ENOENT), one that shrank (read short), one whose mtime alone was set (its version after
 * the read is the new one, not the scan's) — each file's failure its own.
 */
import { describe, expect, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import * as FileStore from "../../src/store/FileStore.js"
import { SHA256_BYTES as DIGEST } from "../../src/sha256.js"
import { type WholeFile, type WholeReader, storeWholeReader, wholeReaderFor } from "../../src/store/wholeFiles.js"
import { loadNative } from "../../src/net/native.js"

/** A name that is no UTF-8 (Latin-1 "café"), as the file system holds it. */
const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9])

const contentsOf = (i: number) => Uint8Array.from({ length: 100 + i * 997 }, (_, j) => (i * 31 + j) & 0xff)

/** What a reader says of each file, in plain terms. */
const said = (reader: WholeReader, files: ReadonlyArray<WholeFile>, into: Uint8Array) => {
  const digests = new Uint8Array(files.length * DIGEST)
  return reader(files, into, digests).map((r, i) =>
    r instanceof FileStore.StoreError
      ? { error: r.code, op: r.op, message: r.message }
      : {
        read: r.read,
        after: r.after,
        digest: r.hashed ? Buffer.from(digests.subarray(i * DIGEST, (i + 1) * DIGEST)).toString("hex") : undefined,
        bytes: Buffer.from(into.subarray(files[i]!.at, files[i]!.at + r.read)).toString("hex")
      }
  )
}

describe("small files read whole", () => {
  it.live.skipIf(typeof loadNative() === "string")("the addon's reader says what the store's says, file by file: contents, version, digest, and each file's own failure", () =>
    Effect.scoped(Effect.gen(function*() {
      const base = yield* tempDir
      for (let i = 0; i < 6; i++) fs.writeFileSync(join(base, `f${i}`), contentsOf(i))
      fs.writeFileSync(Buffer.concat([Buffer.from(base + "/"), latin1]), contentsOf(6))
      const store = yield* FileStore.make(base)
      const listed = store.listNow(".")
      if (listed instanceof FileStore.StoreError) throw listed
      let at = 0
      const files: Array<WholeFile> = listed.map((l, i) => {
        const f = { rel: l.name, identity: l.entry.identity, version: l.entry.version, at, hash: i % 2 === 0 }
        at += l.entry.size
        return f
      })
      // after the scan: f1 replaced by another file, f2 by a FIFO, f3 gone, f4 shorter, f5's mtime set back a day
      fs.renameSync(join(base, "f1"), join(base, "f1.old"))
      fs.writeFileSync(join(base, "f1"), contentsOf(1))
      fs.rmSync(join(base, "f2"))
      execFileSync("mkfifo", [join(base, "f2")])
      fs.rmSync(join(base, "f3"))
      fs.truncateSync(join(base, "f4"), 10)
      const day = Math.floor(Date.now() / 1000) - 86_400
      fs.utimesSync(join(base, "f5"), day, day)
      const native = said(wholeReaderFor(store), files, new Uint8Array(at))
      expect(native).toEqual(said(storeWholeReader(store), files, new Uint8Array(at)))
      const byName = new Map(files.map((f, i) => [f.rel, native[i]!]))
      expect(byName.get("f1")).toMatchObject({ error: "ESTALE", op: "open" })
      expect(byName.get("f2")).toMatchObject({ error: "ENOTSUP" })
      expect(byName.get("f3")).toMatchObject({ error: "ENOENT", op: "open" })
      expect(byName.get("f4")).toMatchObject({ read: 10 })
      const scanned = (rel: string) => files.find((f) => f.rel === rel)!.version
      expect(byName.get("f0")).toMatchObject({ after: scanned("f0") })
      expect(byName.get("f5")).toMatchObject({ after: { size: scanned("f5").size, mtimeNs: BigInt(day) * 1_000_000_000n } })
      const notUtf8 = files.find((f) => !/^f\d$/.test(f.rel))!.rel
      for (const [i, rel] of [[0, "f0"], [5, "f5"], [6, notUtf8]] as const) {
        const file = files.find((f) => f.rel === rel)!
        const r = byName.get(rel)
        expect(r).toMatchObject({ read: contentsOf(i).length, bytes: Buffer.from(contentsOf(i)).toString("hex") })
        expect(r).toMatchObject({ digest: file.hash ? createHash("sha256").update(contentsOf(i)).digest("hex") : undefined })
      }
    })))
})
