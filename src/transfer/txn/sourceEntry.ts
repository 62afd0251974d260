/**
 * A scanned entry of the sender's tree as a transaction's manifest `Entry`: full uid/gid, the mtime to the
 * nanosecond, and for a regular file the SHA-256 of its contents, hashed through one descriptor with a turn of
 * the event loop between chunks. The file's version (size, mtime, ctime to the nanosecond) as it was hashed is
 * kept: every block later read for the members must come from that version (`changedSince`), or the members would
 * check what they received against a digest of other contents.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { Effect } from "effect"
import type { FileIdentity, FileStoreShape, FileVersion, LocalEntry } from "../../store/FileStore.js"
import { StoreError } from "../../store/FileStore.js"
import { MAX_ENTRY_NAMES } from "../../protocol/native/transferMessage.js"
import { utf8Length } from "../../protocol/text.js"
import { yieldToEventLoop } from "../../yieldToEventLoop.js"
import { changedSince } from "../send/sourceVersion.js"
import type { Entry, Mtime } from "./messages.js"

/** An entry of the manifest with what the driver needs to read its contents later. */
export interface SourceEntry {
  readonly entry: Entry
  /** A regular file: the scanned inode and the version its digest is of. */
  readonly file?: { readonly identity: FileIdentity; readonly version: FileVersion }
}

export type Prepared = SourceEntry | { readonly problem: string }

/**
 * Hashing reads this much at once; the event loop runs between chunks. One buffer for every hash: a chunk is read
 * and hashed with no turn between.
 */
const chunk = new Uint8Array(256 * 1024)
/** A file written while it is hashed is hashed again this many times before it is reported. */
const HASH_ATTEMPTS = 3

const NS = 1_000_000_000n

export const mtimeOf = (ns: bigint): Mtime => {
  let sec = ns / NS
  let nsec = ns % NS
  if (nsec < 0n) (sec -= 1n), (nsec += NS)
  return { sec: Number(sec), nsec: Number(nsec) }
}

/**
 * The mtime of a directory or symlink to the nanosecond (lstat of the scanned inode); whole seconds when the path no
 * longer leads to it, or cannot be named as a string (a name that is not UTF-8): only its metadata depends on it.
 */
const otherMtime = (store: FileStoreShape, rel: string, local: LocalEntry): Mtime => {
  try {
    const st = fs.lstatSync(`${store.base}/${rel}`, { bigint: true, throwIfNoEntry: false })
    if (st !== undefined && Number(st.ino) === local.identity.ino && Number(st.dev) === local.identity.dev) return mtimeOf(st.mtimeNs)
  } catch {
    // the whole seconds the scan saw
  }
  return { sec: local.mtime, nsec: 0 }
}

/** One pass over the file through `reader`: its digest and the version read, or why it failed or changed. */
const hashOnce = (store: FileStoreShape, rel: string, identity: FileIdentity) =>
  Effect.gen(function*() {
    const reader = store.openReaderNow(rel, identity)
    if (reader instanceof StoreError) return { failed: reader.message }
    try {
      const before = reader.versionNow()
      if (before instanceof StoreError) return { failed: before.message }
      const hash = createHash("sha256")
      let offset = 0
      // the size as opened: a file that grows or shrinks meanwhile shows in its version after
      while (offset < before.size) {
        const n = reader.readvNow(offset, [chunk])
        if (n instanceof StoreError) return { failed: n.message }
        if (n === 0) break
        hash.update(chunk.subarray(0, n))
        offset += n
        // between the chunks of a big file only: a small file costs no turn of the event loop
        if (offset < before.size) yield* yieldToEventLoop
      }
      const after = reader.versionNow()
      if (after instanceof StoreError) return { failed: after.message }
      const changed = offset !== before.size ? `read ${offset} bytes of ${before.size}` : changedSince(before, after)
      if (changed !== undefined) return { changed }
      return { digest: new Uint8Array(hash.digest()), version: before }
    } finally {
      reader.closeNow()
    }
  })

/** The manifest entry of a scanned file, directory or symlink; a problem names why it cannot be sent. */
export const prepare = (store: FileStoreShape, rel: string, local: LocalEntry): Effect.Effect<Prepared> =>
  Effect.gen(function*() {
    if (local.kind === "other") return { problem: "skipped: not a regular file, directory or symlink" }
    if (utf8Length(rel) + (local.kind === "symlink" ? utf8Length(local.linkTarget) : 0) > MAX_ENTRY_NAMES) {
      return { problem: `path and link target exceed the ${MAX_ENTRY_NAMES} bytes a transaction entry allows` }
    }
    const base = { path: rel, mode: local.mode, uid: local.uid, gid: local.gid }
    if (local.kind !== "file") {
      const entry: Entry = { ...base, type: local.kind, size: 0, mtime: otherMtime(store, rel, local), ...(local.kind === "symlink" ? { target: local.linkTarget } : {}) }
      return { entry }
    }
    let changed = ""
    for (let attempt = 0; attempt < HASH_ATTEMPTS; attempt++) {
      const r = yield* hashOnce(store, rel, local.identity)
      if ("failed" in r) return { problem: `unreadable here: ${r.failed}` }
      if ("changed" in r) {
        changed = r.changed!
        continue
      }
      const entry: Entry = { ...base, type: "file", size: r.version.size, mtime: mtimeOf(r.version.mtimeNs), digest: r.digest }
      return { entry, file: { identity: local.identity, version: r.version } }
    }
    return { problem: `changed while it was hashed (${HASH_ATTEMPTS} times; last: ${changed}): not sent` }
  })
