/**
 * The sender's small files read whole, a burst's worth per call: each opened by its path (nothing followed at its
 * end), refused unless it is a regular file and the inode the scan saw (`FileIdentity`), read (the size the scan
 * saw), its version taken after the read (for the caller to check against the scan's: `changedSince`), hashed when
 * asked (SHA-256; of what was read, whatever its length), closed. The addon (native/makuo_fs.c `readFiles`) does it all for
 * every file in one call, into buffers kept here; without it (not built, `MAKUO_IO=dgram`), the store's reader
 * does it file by file: a path, an open, two `fstat`s (each a Stats object with its dates), a read, a close and a
 * digest per file — most of the sender's time per file in a tree of small files.
 */
import { getSystemErrorMap } from "node:util"
import { loadNative } from "../net/native.js"
import { SHA256_BYTES, sha256 } from "../sha256.js"
import { type FileIdentity, type FileStoreShape, type FileVersion, StoreError } from "./FileStore.js"
import { kindOf } from "./listing.js"
import { nulStrings } from "./nulStrings.js"

/** A file to read whole into `into` at `at`, `version.size` bytes. */
export interface WholeFile {
  readonly rel: string
  readonly identity: FileIdentity
  readonly version: FileVersion
  readonly at: number
  /** Its SHA-256 is wanted. */
  readonly hash: boolean
}

/** A file read: the bytes read, its version after the read, whether its digest was written; or why it could not be. */
export type WholeRead = { readonly read: number; readonly after: FileVersion; readonly hashed: boolean } | StoreError

/**
 * Reads `files` into `into` (each within it): one result per file, in order. The digest of the i-th file read, when
 * asked, goes to `digests` at `SHA256_BYTES` × i (which has room for all of them): no array of its own per file.
 */
export type WholeReader = (files: ReadonlyArray<WholeFile>, into: Uint8Array, digests: Uint8Array) => Array<WholeRead>

/** The store's reader, file by file. */
export const storeWholeReader = (store: FileStoreShape): WholeReader => (files, into, digests) =>
  files.map((f, i): WholeRead => {
    const reader = store.openReaderNow(f.rel, f.identity)
    if (reader instanceof StoreError) return reader
    try {
      const read = reader.readvNow(0, [into.subarray(f.at, f.at + f.version.size)])
      if (read instanceof StoreError) return read
      const after = reader.versionNow()
      if (after instanceof StoreError) return after
      if (f.hash) digests.set(sha256(into.subarray(f.at, f.at + read)), i * SHA256_BYTES)
      return { read, after, hashed: f.hash }
    } finally {
      reader.closeNow()
    }
  })

/** What the addon exports for it (native/makuo_fs.c): the files read. */
interface NativeReadFiles {
  readonly readFiles: (paths: Uint8Array, files: Float64Array, into: Uint8Array, digests: Uint8Array, scanned: BigInt64Array) => number
}

/** Per file in `files`, in native/makuo_fs.c's order. */
const F = { pathAt: 0, dev: 1, ino: 2, size: 3, intoAt: 4, hash: 5, result: 6, step: 7, size2: 8, mtimeSec: 9, mtimeNsec: 10, ctimeSec: 11, ctimeNsec: 12, mode: 13, same: 14 }
const FIELDS = 15
const STEPS = ["open", "fstat", "read"]
const ENOTSUP = 95
const ESTALE = 116
const NS = 1_000_000_000n

/** The failure `rc` (-errno) of `step` (`mode`: what the file was), as the store's reader says it (`openReaderNow`). */
const nativeError = (rel: string, rc: number, step: number, mode: number): StoreError => {
  // the addon's own refusals follow the fstat (step 1); the same errno from open itself (a stale NFS handle, a
  // file system without O_NOFOLLOW) is the system's and said as such
  if (step === 1 && rc === -ESTALE) return new StoreError({ op: "open", path: rel, errno: ESTALE, code: "ESTALE", detail: "not the file that was scanned: the path was replaced since" })
  if (step === 1 && rc === -ENOTSUP) {
    const kind = kindOf(mode)
    return new StoreError({ op: "open", path: rel, errno: ENOTSUP, code: "ENOTSUP", detail: `not a regular file: ${kind === "other" ? "a FIFO, socket or device" : `a ${kind}`}` })
  }
  const [code, description] = getSystemErrorMap().get(rc) ?? [`E${-rc}`, `errno ${-rc}`]
  return new StoreError({ op: STEPS[step] ?? "read", path: rel, errno: -rc, code, detail: `${code} (${description})` })
}

const nativeWholeReader = (base: string, { readFiles }: NativeReadFiles): WholeReader => {
  const paths = nulStrings(64 * 1024)
  let fields = new Float64Array(64 * FIELDS)
  /** Each file's mtime and ctime as scanned: the addon says whether the version after the read is that one. */
  let scanned = new BigInt64Array(64 * 2)
  const prefix = `${base}/`
  return (files, into, digests) => {
    if (files.length * FIELDS > fields.length) {
      fields = new Float64Array(files.length * FIELDS)
      scanned = new BigInt64Array(files.length * 2)
    }
    paths.clear()
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!
      const o = i * FIELDS
      fields[o + F.pathAt] = paths.push(prefix + f.rel)
      fields[o + F.dev] = f.identity.dev
      fields[o + F.ino] = f.identity.ino
      fields[o + F.size] = f.version.size
      fields[o + F.intoAt] = f.at
      fields[o + F.hash] = f.hash ? 1 : 0
      // a time beyond int64 nanoseconds wraps here: the addon says no such time is the same, and it is compared below
      scanned[2 * i] = BigInt.asIntN(64, f.version.mtimeNs)
      scanned[2 * i + 1] = BigInt.asIntN(64, f.version.ctimeNs)
    }
    const done = readFiles(paths.bytes(), fields.subarray(0, files.length * FIELDS), into, digests, scanned)
    if (done !== files.length) throw new Error(`readFiles read ${done} of ${files.length} files: a file beyond its buffers`)
    const reads: Array<WholeRead> = new Array(files.length)
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!
      const o = i * FIELDS
      const rc = fields[o + F.result]!
      reads[i] = rc < 0 ? nativeError(f.rel, rc, fields[o + F.step]!, fields[o + F.mode]!) : {
        read: rc,
        hashed: f.hash,
        // the scan's version itself when it did not change: no version (and its BigInts) built per file
        after: fields[o + F.same] === 1 ? f.version : {
          size: fields[o + F.size2]!,
          mtimeNs: BigInt(fields[o + F.mtimeSec]!) * NS + BigInt(fields[o + F.mtimeNsec]!),
          ctimeNs: BigInt(fields[o + F.ctimeSec]!) * NS + BigInt(fields[o + F.ctimeNsec]!)
        }
      }
    }
    return reads
  }
}

/** The addon's reader where it loads with `readFiles`, else the store's. */
export const wholeReaderFor = (store: FileStoreShape): WholeReader => {
  const native = loadNative()
  const calls = (typeof native === "string" ? {} : native) as Partial<NativeReadFiles>
  return calls.readFiles === undefined ? storeWholeReader(store) : nativeWholeReader(store.base, calls as NativeReadFiles)
}
