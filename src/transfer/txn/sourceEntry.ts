/**
 * A scanned entry of the sender's tree as a transaction's manifest `Entry`: full uid/gid, the mtime to the
 * nanosecond, and a regular file's version (size, mtime, ctime to the nanosecond): every block later read for the
 * members must come from that version (`changedSince`), so that what they stage is the file the manifest
 * describes. A file is opened here only when a member needs its SHA-256 to decide (`--checksum`, `check`): then it
 * is hashed through one descriptor with a turn of the event loop between chunks, and the version is the one hashed.
 * Otherwise its entry is the scan's `lstat` (`LocalEntry.version`), with no call of its own: a file no member needs
 * is never opened, and one a member needs is hashed by the sender's driver from the very bytes it sends, read from
 * that version or refused (docs/transactions.md, "Digests").
 */
import { createHash } from "node:crypto"
import { Effect } from "effect"
import type { FileIdentity, FileStoreShape, FileVersion, LocalEntry, Reader } from "../../store/FileStore.js"
import { StoreError } from "../../store/FileStore.js"
import { splitNs } from "../../store/listing.js"
import { MAX_ENTRY_NAMES } from "../../protocol/native/transferMessage.js"
import { utf8Length } from "../../protocol/text.js"
import { sha256 } from "../../sha256.js"
import { yieldToEventLoop } from "../../yieldToEventLoop.js"
import { changedSince } from "../send/sourceVersion.js"
import type { Entry } from "./messages.js"

/** An entry of the manifest with what the driver needs to read its contents later. */
export interface SourceEntry {
  readonly entry: Entry
  /** A regular file: the scanned inode and the version the manifest describes (and its digest is of). */
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

type Hashed =
  | { readonly digest: Uint8Array; readonly version: FileVersion }
  | { readonly failed: string }
  | { readonly changed: string }

/** The version after reading against the version opened: the digest, or what changed meanwhile. */
const settle = (reader: Reader, read: number, digest: () => Uint8Array): Hashed => {
  const before = reader.opened
  const after = reader.versionNow()
  if (after instanceof StoreError) return { failed: after.message }
  const changed = read !== before.size ? `read ${read} bytes of ${before.size}` : changedSince(before, after)
  if (changed !== undefined) return { changed }
  return { digest: digest(), version: before }
}

/**
 * One pass over a file of at most one chunk, as opened: one read, one digest, no turn of the event loop (most of a
 * tree of small files). Undefined when it is larger now: the chunked pass takes it.
 */
const hashWholeNow = (store: FileStoreShape, rel: string, identity: FileIdentity): Hashed | undefined => {
  const reader = store.openReaderNow(rel, identity)
  if (reader instanceof StoreError) return { failed: reader.message }
  try {
    if (reader.opened.size > chunk.length) return undefined
    // a file that shrank meanwhile reads short; one that grew shows in its version after
    const n = reader.readvNow(0, [chunk.subarray(0, reader.opened.size)])
    if (n instanceof StoreError) return { failed: n.message }
    return settle(reader, n, () => sha256(chunk.subarray(0, n)))
  } finally {
    reader.closeNow()
  }
}

/** One pass over the file a chunk at a time, with a turn of the event loop between chunks. */
const hashChunked = (store: FileStoreShape, rel: string, identity: FileIdentity) =>
  Effect.gen(function*() {
    const reader = store.openReaderNow(rel, identity)
    if (reader instanceof StoreError) return { failed: reader.message }
    try {
      const size = reader.opened.size
      const digest = createHash("sha256")
      let offset = 0
      // the size as opened: a file that grows or shrinks meanwhile shows in its version after
      while (offset < size) {
        const n = reader.readvNow(offset, [chunk])
        if (n instanceof StoreError) return { failed: n.message }
        if (n === 0) break
        digest.update(chunk.subarray(0, n))
        offset += n
        if (offset < size) yield* yieldToEventLoop
      }
      return settle(reader, offset, () => new Uint8Array(digest.digest()))
    } finally {
      reader.closeNow()
    }
  })

/** Why the entry cannot go in the manifest, or its entry when it is no regular file; undefined for a file to hash. */
const withoutContents = (rel: string, local: LocalEntry): Prepared | undefined => {
  if (local.kind === "other") return { problem: "skipped: not a regular file, directory or symlink" }
  if (utf8Length(rel) + (local.kind === "symlink" ? utf8Length(local.linkTarget) : 0) > MAX_ENTRY_NAMES) {
    return { problem: `path and link target exceed the ${MAX_ENTRY_NAMES} bytes a transaction entry allows` }
  }
  if (local.kind === "file") return undefined
  const base = { path: rel, mode: local.mode, uid: local.uid, gid: local.gid }
  return { entry: { ...base, type: local.kind, size: 0, mtime: splitNs(local.version.mtimeNs), ...(local.kind === "symlink" ? { target: local.linkTarget } : {}) } }
}

const fileEntry = (rel: string, local: LocalEntry, version: FileVersion, digest?: Uint8Array): SourceEntry => {
  const entry: Entry = { path: rel, mode: local.mode, uid: local.uid, gid: local.gid, type: "file", size: version.size, mtime: splitNs(version.mtimeNs) }
  return { entry: digest === undefined ? entry : { ...entry, digest }, file: { identity: local.identity, version } }
}

const changedProblem = (changed: string) => ({ problem: `changed while it was hashed (${HASH_ATTEMPTS} times; last: ${changed}): not sent` })

/**
 * `prepare` without an Effect for an entry that needs no turn of the event loop: no regular file, a file without
 * its digest (the scan's version), or one to hash of at most one chunk (one open, two `fstat`s, one read and one digest).
 * Undefined for a larger file to hash: `prepare` hashes it a chunk at a time.
 */
export const prepareNow = (store: FileStoreShape, rel: string, local: LocalEntry, digest: boolean): Prepared | undefined => {
  const other = withoutContents(rel, local)
  if (other !== undefined) return other
  if (!digest) return fileEntry(rel, local, local.version)
  if (local.size > chunk.length) return undefined
  let changed = ""
  for (let attempt = 0; attempt < HASH_ATTEMPTS; attempt++) {
    const r = hashWholeNow(store, rel, local.identity)
    if (r === undefined) return undefined
    if ("failed" in r) return { problem: `unreadable here: ${r.failed}` }
    if ("changed" in r) {
      changed = r.changed
      continue
    }
    return fileEntry(rel, local, r.version, r.digest)
  }
  return changedProblem(changed)
}

/**
 * The manifest entry of a scanned file, directory or symlink, a file's with its SHA-256 when `digest`; a problem
 * names why it cannot be sent.
 */
export const prepare = (store: FileStoreShape, rel: string, local: LocalEntry, digest: boolean): Effect.Effect<Prepared> =>
  Effect.suspend(() => {
    const now = prepareNow(store, rel, local, digest)
    if (now !== undefined) return Effect.succeed(now)
    return Effect.gen(function*() {
      let changed = ""
      for (let attempt = 0; attempt < HASH_ATTEMPTS; attempt++) {
        const r = yield* hashChunked(store, rel, local.identity)
        if ("failed" in r) return { problem: `unreadable here: ${r.failed}` }
        if ("changed" in r) {
          changed = r.changed
          continue
        }
        return fileEntry(rel, local, r.version, r.digest)
      }
      return changedProblem(changed)
    })
  })
