/**
 * A member's disk side of one tree transaction (docs/transactions.md): nothing it does before `switchNow` is
 * visible under the base. Contents are written to a temp beside the target (`NAME.makuoNNNNNN`, as every temp
 * here), checked (size, SHA-256 against the sender's: the manifest's, or the one sent after the data) and given their
 * metadata there; a small file's are held in memory until it is staged, checked there, and its temp made whole in
 * one go (`stageCalls.ts`). A new directory is made
 * as a temp directory beside its target, and everything under it is put in its final place inside that temp
 * directory as it is staged: the switch renames the temp directory once and the whole new tree appears at once.
 * The switch is journaled outside the base (`journal.ts`). Every path goes through the store's confined walk
 * from the base's descriptor: a symlinked parent is refused (ELOOP), never followed, and an entry fails alone with
 * its errno, not the transaction.
 */
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import { constants } from "node:os"
import { Either } from "effect"
import type { Entry, Mtime } from "../transfer/txn/messages.js"
import {
  at,
  attemptNow,
  bytePath,
  closeQuietly,
  DIR_FLAGS,
  type FileStoreShape,
  isRoot,
  nameOf,
  type Parent,
  removeTree,
  StoreError,
  tempName,
  unlinkAt,
  writevAllSync
} from "./FileStore.js"
import { errnoError } from "./errnoError.js"
import { kindOf } from "./listing.js"
import { createFile, secondsOf, STAT, STAT_FIELDS, statNames } from "./stageCalls.js"
import { applyAllNow, forgetRecordNow, markDoneNow, type Op, recordTempDirectoryNow, writeIntentNow } from "./journal.js"
import * as ParentCache from "./parentCache.js"
import { isPlainRelative, splitRelative } from "./paths.js"
import { EACCES, EIO } from "../protocol/errno.js"
import { equalBytes } from "../domain/bytes.js"
import { sha256 } from "../sha256.js"

/**
 * What an entry takes here: nothing, its metadata (switched in place), its contents; or its metadata set again
 * though it is the same now ("reapply": a directory, whose times a rename under it in the switch changes).
 */
export type Need = "none" | "metadata" | "contents" | "reapply"

const SETID = 0o6000
const C = fs.constants

export interface StagingOptions {
  /** Where switches are journaled and new temp directories recorded: outside the base. */
  readonly journalDir: string
  /** Apply the setuid/setgid bits of received files (`--keep-setid`); dropped otherwise. */
  readonly keepSetId: boolean
  /** Takes one descriptor from the daemon's budget for a temp being written; false when there is none. */
  readonly take: () => boolean
  readonly give: () => void
  /** The daemon's budget for small files held in memory (`heldBudget`), shared by every transaction it receives. */
  readonly held: HeldBudget
  /** A path refused (counted and logged by the caller), or a file's setuid/setgid bits dropped. */
  readonly notice: (kind: "refusedPaths" | "setidDropped", message: string) => void
}

interface Staged {
  readonly need: Need
  /** The entry's path split once (`lookupNow`) and joined again: the one spelling every step uses. */
  readonly parts: ReadonlyArray<string>
  readonly rel: string
  /** The entry failed (refused path, write, check): its errno, answered at `stage`. */
  errno: number
  /** The temp being written, open. */
  fd: number | undefined
  /** Where the temp is: the target's path, or its place inside a new directory's temp. */
  place: string | undefined
  temp: string | undefined
  /** The temp of the new directory it lies in, renamed with it: nothing of its own to switch. */
  inside: boolean
  /**
   * SHA-256 of the temp's first `hashed` bytes, taken as the blocks are written in order (the sender sends them so):
   * `stage` reads back only what came out of order (repairs), not the whole file.
   */
  hash: crypto.Hash | undefined
  hashed: number
  /**
   * A small file's contents, held here as they arrive until it is staged: its temp is then made whole in one go
   * (`stageCalls.ts`), the contents checked before anything is written (undefined: it has a temp, or none yet).
   */
  held: Uint8Array | undefined
  /** The slab `held` is carved from. */
  slab: Slab | undefined
  /** A block went past the manifest's size: the file fails its size check. */
  overflow: boolean
  /** What the switch does for it. */
  readonly ops: Array<Op>
}

/**
 * A time this daemon set is within a microsecond of the wanted one (`stageCalls.secondsOf`). In doubles: a difference
 * of whole seconds is exact, and one of a second or more is far beyond the microsecond whatever its rounding.
 */
const sameTimeAt = (sec: number, nsec: number, t: Mtime) => {
  const d = (sec - t.sec) * 1e9 + (nsec - t.nsec)
  return d > -1000 && d < 1000
}

/**
 * A file this small is held in memory until it is staged (`Staged.held`), as long as the staging holds less than
 * `HOLD_BYTES` in all and the daemon's `HeldBudget` has room; a bigger one, or one past either budget, is written to
 * its temp as it comes (and takes a descriptor of --max-temp-files). The daemon's budget is what bounds the memory
 * a peer can make it hold: a transaction's own cap alone would let many transactions, each with its files' blocks
 * all but the last sent, hold 4 MiB apiece until they expire.
 */
const HOLD_FILE = 64 * 1024
const HOLD_BYTES = 4 * 1024 * 1024

/**
 * Held contents are carved one after the other from slabs of `SLAB` bytes, not given a buffer each (an `ArrayBuffer`
 * per small file cost its allocation and its share of the collector's sweep). A slab counts in full against both
 * budgets from its making until none of its files is held any more, so a file left one block short pins at most
 * what the budgets already counted; the slab being carved is carved again from its start once none is held. A file
 * for which no slab fits the budgets is held in a buffer of its own size, if that fits.
 */
const SLAB = 128 * 1024

interface Slab {
  readonly bytes: Uint8Array
  /** Bytes carved so far. */
  used: number
  /** Its files still held. */
  live: number
}

/** Bytes of held small files, counted across every staging that shares it. */
export interface HeldBudget {
  /** Counts `bytes` as held; false, counting nothing, when that would pass the budget. */
  readonly take: (bytes: number) => boolean
  readonly give: (bytes: number) => void
}

export const heldBudget = (limit: number): HeldBudget => {
  let used = 0
  return {
    take: (bytes) => (used + bytes > limit ? false : ((used += bytes), true)),
    give: (bytes) => void (used -= bytes)
  }
}

const { ENOENT } = constants.errno

const sizeDiffers = (size: number, entry: Entry) =>
  Object.assign(new Error(`size ${size}, the manifest says ${entry.size}`), { code: "EIO", errno: EIO })
const digestDiffers = () => Object.assign(new Error("SHA-256 differs from the sender's"), { code: "EIO", errno: EIO })

const refused = (op: string, path: string, errno: number, code: string, detail: string) =>
  new StoreError({ op, path, errno, code, detail })

/** The bytes of one run written as one system call: ~190 of a big file's 1.4 KiB blocks, from one wake-up or several. */
const RUN_BYTES = 256 * 1024

export const make = (store: FileStoreShape, options: StagingOptions) => {
  /** Only root gives files away; asked once (the daemon's user is settled before any transaction). */
  const root = isRoot()
  const staged = new Map<Entry, Staged>()
  /** New directories (their path → the temp directory's name beside it), in the order they were made. */
  const newDirs = new Map<string, string>()
  /** Where the new directories are recorded (`journal.recordTempDirectoryNow`), once there is one. */
  let record: string | undefined
  /**
   * The times of each existing directory a temp was made in, as they were before: making and removing a temp
   * changes them, so a discarded transaction puts them back and leaves nothing here changed (by directory, with an
   * entry of it to reopen it by).
   */
  const touched = new Map<string, { readonly place: string; readonly atime: number; readonly mtime: number }>()
  /**
   * The bytes free under the base as the pass's first new file found them, less what the pass's temps took since:
   * one `statfs` per pass, not per file (the same figure a few microseconds apart, less what this pass wrote).
   */
  let free: number | undefined
  /** The directories walked to during the current pass (`passNow`), reused. */
  const parents = ParentCache.make(store)
  let inPass = false
  /** The directories a lookup of the current pass found missing (or no directory). */
  const missingDirs = new Set<string>()
  const openParentNow = (op: string, path: string) => (inPass ? parents.openNow(op, path) : store.openParentNow(op, path, false))
  const release = (parent: Parent) => parents.release(parent)

  /**
   * A pass (`parentCache.ts`): from here to `endPassNow`, each existing parent directory is walked to once. The
   * caller ends it before the event loop turns (the arrivals of one wake-up, a manifest batch's lookups).
   */
  const beginPassNow = () => void (inPass = true)
  const endPassNow = () => {
    inPass = false
    missingDirs.clear()
    free = undefined
    parents.closeAll()
  }
  /** Runs `f` as a pass, or as part of the one under way. */
  const passNow = <A>(f: () => A): A => {
    if (inPass) return f()
    beginPassNow()
    try {
      return f()
    } finally {
      endPassNow()
    }
  }

  /** Notes the times of the directory open as `parent` before the first temp is made in it. */
  const touchNow = (parent: Parent) => {
    const slash = parent.rel.lastIndexOf("/")
    const dir = slash < 0 ? "." : parent.rel.slice(0, slash)
    if (touched.has(dir)) return
    const st = attemptNow("stage", dir, () => fs.fstatSync(parent.fd, { bigint: true }))
    if (!(st instanceof StoreError)) touched.set(dir, { place: parent.rel, atime: Number(st.atimeNs) / 1e9, mtime: Number(st.mtimeNs) / 1e9 })
  }

  /** The mode applied: setuid/setgid of a regular file only with `--keep-setid`. */
  const modeOf = (e: Entry) => (e.type === "file" && !options.keepSetId ? e.mode & ~SETID : e.mode) & 0o7777

  const metaOp = (e: Entry, path: string): Op => ({
    op: "meta",
    path,
    directory: e.type === "directory",
    mode: modeOf(e),
    uid: e.uid,
    gid: e.gid,
    sec: e.mtime.sec,
    nsec: e.mtime.nsec
  })

  /** Where `parts` is staged: inside the temp of a new directory above it, or undefined (beside its target). */
  const placeOf = (parts: ReadonlyArray<string>): string | undefined => {
    if (newDirs.size === 0) return undefined
    for (let i = 1; i < parts.length; i++) {
      const temp = newDirs.get(parts.slice(0, i).join("/"))
      if (temp !== undefined) return [...parts.slice(0, i - 1), temp, ...parts.slice(i)].join("/")
    }
    return undefined
  }

  /** Makes `path` a new directory: a temp directory beside it, owner-only until its metadata is applied. */
  const newDirectoryNow = (path: string): string | StoreError => {
    const parent = openParentNow("stage", path)
    if (parent instanceof StoreError) return parent
    try {
      const temp = tempName(parent.name)
      const recorded = recordTempDirectoryNow(options.journalDir, record, store.base, parent.rel, temp)
      if (recorded instanceof StoreError) return recorded
      record = recorded
      touchNow(parent)
      const made = attemptNow("stage", path, () => fs.mkdirSync(at(parent.fd, temp), { mode: 0o700 }))
      if (made instanceof StoreError) return made
      newDirs.set(parent.rel, temp)
      return temp
    } finally {
      release(parent)
    }
  }

  /**
   * The parent of the entry at `parts` where it is staged, open: inside a new directory's temp (made as needed,
   * unseen), or the target's own parent; a missing ancestor (or a file where the manifest has a directory)
   * becomes a new directory. A symlinked ancestor is refused (ELOOP).
   */
  const parentNow = (parts: ReadonlyArray<string>) => {
    const path = parts.join("/")
    const place = placeOf(parts)
    if (place !== undefined) return { parent: insideNow(place), inside: true }
    const parent = openParentNow("stage", path)
    if (!(parent instanceof StoreError) || (parent.code !== "ENOENT" && parent.code !== "ENOTDIR")) return { parent, inside: false }
    const made = newAncestorNow(parts, parts.length - 1)
    if (made instanceof StoreError) return { parent: made, inside: false }
    return made ? { parent: insideNow(placeOf(parts)!), inside: true } : { parent, inside: false }
  }

  /** The parent of `place` inside a new directory's temp: walked to once a pass, its missing directories made. */
  const insideNow = (place: string) => {
    const parent = openParentNow("stage", place)
    return parent instanceof StoreError && (parent.code === "ENOENT" || parent.code === "ENOTDIR" || parent.code === "ELOOP") ? store.openParentNow("stage", place, true) : parent
  }

  /**
   * Makes the topmost of the first `depth` components of `parts` that is missing here (or not a directory) a new
   * directory, so that everything below it is staged inside its temp: true when one was made. The walk goes down
   * from the base, whatever order the entries come in (a directory's own entry may be staged before anything
   * under it, or after).
   */
  const newAncestorNow = (parts: ReadonlyArray<string>, depth: number): StoreError | boolean => {
    for (let i = 1; i <= depth; i++) {
      const above = parts.slice(0, i).join("/")
      const found = store.inspectNow(above)
      if (found instanceof StoreError) return found
      if (found._tag === "Some" && found.value.kind === "directory") continue
      const made = newDirectoryNow(above)
      return made instanceof StoreError ? made : true
    }
    return false
  }

  /**
   * The blocks written in passes, one run of a temp's consecutive blocks at a time: the run goes to the disk as one
   * `pwrite` when another run starts, the run buffer is full, a block comes outside a pass, or the temps are staged,
   * switched or discarded, so a big file's blocks are one system call and one update of the temp's hash per 256 KiB,
   * not one per datagram. The run outlives its pass: at a slow link's pace a wake-up brings one or two Data, and a
   * write and a hash update per wake-up cost more than the rest of a datagram's handling. Nothing reads a temp before
   * it is staged (which flushes first), and a temp that fails is closed, its run dropped. The blocks are copied into
   * the run buffer: they are views of the transport's receive buffer, which the next read overwrites
   * (`Transport.consume`). Outside a pass a block is written (and hashed) at once.
   */
  let run: { readonly s: Staged; readonly path: string; readonly offset: number; length: number } | undefined
  let runBuffer: Uint8Array | undefined

  const flushNow = () => {
    const r = run
    run = undefined
    if (r === undefined || r.s.fd === undefined) return
    const fd = r.s.fd
    const bytes = runBuffer!.subarray(0, r.length)
    hashInOrder(r.s, r.offset, bytes)
    const written = attemptNow("write", r.path, () => writevAllSync(fd, r.offset, [bytes]))
    if (written instanceof StoreError) fail(r.s, written)
  }

  /** The temp's hash takes `bytes` written at `offset` when they continue what it has taken (a run: one update). */
  const hashInOrder = (s: Staged, offset: number, bytes: Uint8Array) => {
    if (offset === s.hashed) s.hash!.update(bytes), (s.hashed += bytes.length)
  }

  const fail = (s: Staged, e: StoreError) => {
    if (s.errno === 0) s.errno = e.errno
    closeTemp(s)
    return e.errno
  }

  /** Lets go of what the entry holds: its temp's descriptor, or its held contents. */
  const closeTemp = (s: Staged) => {
    dropHeld(s)
    if (s.fd === undefined) return
    closeQuietly(s.fd)
    s.fd = undefined
    s.hash = undefined
    options.give()
  }

  /** The numbers `statNames` fills, `STAT_FIELDS` per name (grown for a longer run of one directory's entries). */
  let fields = new Float64Array(64 * STAT_FIELDS)

  const stagedOf = (need: Need, parts: ReadonlyArray<string>, rel: string, errno = 0): Staged => ({
    need, parts, rel, errno, fd: undefined, place: undefined, temp: undefined, inside: false, hash: undefined, hashed: 0, held: undefined, slab: undefined, overflow: false, ops: []
  })

  /**
   * What `entry` takes here, compared with what is at its path: type, size, mtime (to the microsecond: see
   * `sameTimeAt`), mode, owner (when root: only root can give files away), a symlink's target; a directory always
   * takes its metadata ("reapply" when it is the same now). A refused path
   * (absolute, `..`, NUL, a symlinked parent) is answered "metadata" and fails alone when staged.
   * `sameContents(i)` (`--checksum`: the file here hashed against entry i's digest) decides a file of the same
   * size instead of its mtime: other contents are needed, the same contents at another mtime take metadata only.
   * The entries of one directory in a row (a manifest lists a directory's entries together) are looked up in one
   * call (`statNames`), their parent walked to once.
   */
  const lookupAllNow = (entries: ReadonlyArray<Entry>, sameContents?: (i: number) => boolean | undefined): Array<Need> => {
    const needs: Array<Need> = new Array(entries.length)
    const parts: Array<ReadonlyArray<string>> = new Array(entries.length)
    const rels: Array<string> = new Array(entries.length)
    const dirs: Array<string | undefined> = new Array(entries.length)
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!
      // a path in its one spelling already (as a sender's scan spells every path) is split without checking it again
      if (isPlainRelative(entry.path)) {
        parts[i] = entry.path.split("/")
        rels[i] = entry.path
      } else {
        const split = splitRelative(entry.path)
        if (Either.isLeft(split) || split.right.length === 0) {
          options.notice("refusedPaths", `refused ${entry.path}: ${Either.isLeft(split) ? split.left.reason : "the base directory itself"}`)
          staged.set(entry, stagedOf("metadata", [], "", EACCES))
          needs[i] = "metadata"
          continue
        }
        parts[i] = split.right
        rels[i] = split.right.join("/")
      }
      const rel = rels[i]!
      dirs[i] = rel.slice(0, Math.max(0, rel.lastIndexOf("/")))
    }
    for (let i = 0; i < entries.length;) {
      if (dirs[i] === undefined) {
        i++
        continue
      }
      let end = i + 1
      while (end < entries.length && dirs[end] === dirs[i]) end++
      lookupRunNow(entries, i, end, dirs[i]!, parts, rels, needs, sameContents)
      i = end
    }
    return needs
  }

  /** Entries `from…end−1`, all in directory `dir`, looked up through one walk to it and one `statNames`. */
  const lookupRunNow = (
    entries: ReadonlyArray<Entry>,
    from: number,
    end: number,
    dir: string,
    parts: ReadonlyArray<ReadonlyArray<string>>,
    rels: ReadonlyArray<string>,
    needs: Array<Need>,
    sameContents: ((i: number) => boolean | undefined) | undefined
  ) => {
    // a directory the pass found missing holds nothing: no walk toward it again for each entry under it
    const parent = inPass && missingDirs.has(dir) ? undefined : openParentNow("lookup", rels[from]!)
    if (parent instanceof StoreError && parent.code !== "ENOENT" && parent.code !== "ENOTDIR") {
      if (parent.code === "ELOOP") options.notice("refusedPaths", `refused ${parent.message}`)
      for (let i = from; i < end; i++) staged.set(entries[i]!, stagedOf("metadata", parts[i]!, rels[i]!, parent.errno)), (needs[i] = "metadata")
      return
    }
    if (parent instanceof StoreError && inPass) missingDirs.add(dir)
    const n = end - from
    if (fields.length < n * STAT_FIELDS) fields = new Float64Array(n * STAT_FIELDS)
    const targets: Array<string | StoreError> = []
    if (parent === undefined || parent instanceof StoreError) {
      for (let k = 0; k < n; k++) fields[k * STAT_FIELDS + STAT.errno] = ENOENT
    } else {
      try {
        const names: Array<string> = new Array(n)
        for (let k = 0; k < n; k++) names[k] = parts[from + k]!.at(-1)!
        statNames(parent.fd, names, fields)
        for (let k = 0; k < n; k++) {
          const f = k * STAT_FIELDS
          if (fields[f + STAT.errno] === 0 && kindOf(fields[f + STAT.mode]!) === "symlink") {
            targets[k] = attemptNow("lookup", entries[from + k]!.path, () => nameOf(fs.readlinkSync(at(parent.fd, names[k]!), "buffer")))
          }
        }
      } finally {
        release(parent)
      }
    }
    for (let k = 0; k < n; k++) {
      const i = from + k
      const entry = entries[i]!
      const f = k * STAT_FIELDS
      const errno = fields[f + STAT.errno]!
      const target = targets[k] ?? ""
      const failed = errno !== 0 && errno !== ENOENT ? errno : target instanceof StoreError ? target.errno : 0
      const need = failed !== 0 ? "metadata" : errno === ENOENT ? (entry.type === "file" ? "contents" : "metadata") : needOf(entry, fields, f, target as string, sameContents?.(i))
      if (need !== "none") staged.set(entry, stagedOf(need, parts[i]!, rels[i]!, failed))
      needs[i] = need
    }
  }

  /** What an entry takes given what `statNames` found at its path (`fields` from `f`). */
  const needOf = (entry: Entry, fields: Float64Array, f: number, target: string, sameContents: boolean | undefined): Need => {
    const mode = fields[f + STAT.mode]!
    const kind = kindOf(mode)
    const time = sameTimeAt(fields[f + STAT.mtimeSec]!, fields[f + STAT.mtimeNsec]!, entry.mtime)
    const owner = !root || (fields[f + STAT.uid] === entry.uid && fields[f + STAT.gid] === entry.gid)
    const meta = owner && time && (entry.type === "symlink" || (mode & 0o7777) === modeOf(entry))
    switch (entry.type) {
      case "file":
        if (kind !== "file" || fields[f + STAT.size] !== entry.size || !(sameContents ?? time)) return "contents"
        return meta ? "none" : "metadata"
      case "directory":
        // its times are set again whatever they are now: a rename under it in this switch changes them
        return kind === "directory" && meta ? "reapply" : "metadata"
      case "symlink":
        return kind === "symlink" && target === entry.target && meta ? "none" : "metadata"
    }
  }

  /** `lookupAllNow` of one entry. */
  const lookupNow = (entry: Entry, sameContents?: boolean): Need => lookupAllNow([entry], () => sameContents)[0]!

  /** Why `lookupNow` refused the entry (0: it did not): a dry run reports it, a send fails the entry at `stageNow`. */
  const refusalOf = (entry: Entry): number => staged.get(entry)?.errno ?? 0

  /** Whether the entry's contents fit under the base (`free` taken once per pass). */
  const roomNow = (entry: Entry): StoreError | undefined => {
    if (!inPass) return store.roomForNow(entry.path, entry.size)
    if (entry.size === 0) return undefined
    if (free === undefined) {
      const found = store.freeBytesNow(entry.path)
      if (found instanceof StoreError) return found
      free = found
    }
    const refused = store.roomIn(entry.path, entry.size, free)
    if (refused === undefined) free -= entry.size
    return refused
  }

  /** The entry's temp, made at its place (the descriptor taken from the budget, room for its size checked). */
  const createNow = (s: Staged, entry: Entry): StoreError | undefined => {
    const full = roomNow(entry)
    if (full !== undefined) return full
    if (!options.take()) return refused("create", entry.path, 24, "EMFILE", "the descriptors of received sessions are in use (--max-temp-files)")
    const { parent, inside } = parentNow(s.parts)
    if (parent instanceof StoreError) return options.give(), parent
    try {
      const temp = tempName(parent.name)
      if (!inside) touchNow(parent)
      const fd = attemptNow("create", entry.path, () => fs.openSync(at(parent.fd, temp), C.O_RDWR | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600))
      if (fd instanceof StoreError) return options.give(), fd
      s.fd = fd
      s.place = parent.rel
      s.temp = temp
      s.inside = inside
      s.hash = crypto.createHash("sha256")
      s.hashed = 0
      return undefined
    } finally {
      release(parent)
    }
  }

  /** What the slabs of held contents take (`HOLD_BYTES`). */
  let heldBytes = 0
  /** The slab being carved. */
  let slab: Slab | undefined

  /** A slab of `bytes` counted against both budgets; undefined when either lacks room. */
  const makeSlab = (bytes: number): Slab | undefined => {
    if (heldBytes + bytes > HOLD_BYTES || !options.held.take(bytes)) return undefined
    heldBytes += bytes
    return { bytes: new Uint8Array(bytes), used: 0, live: 0 }
  }

  const giveSlab = (sl: Slab) => {
    heldBytes -= sl.bytes.length
    options.held.give(sl.bytes.length)
  }

  /** Holds `s`'s contents from now on when it is small and the budgets have room; true when it does. */
  const holdNow = (s: Staged, entry: Entry): boolean => {
    if (s.held !== undefined) return true
    if (s.fd !== undefined || entry.size > HOLD_FILE) return false
    let from = slab !== undefined && slab.used + entry.size <= slab.bytes.length ? slab : undefined
    if (from === undefined) {
      const fresh = makeSlab(SLAB)
      if (fresh !== undefined) {
        if (slab !== undefined && slab.live === 0) giveSlab(slab)
        from = slab = fresh
      } else from = makeSlab(entry.size)
    }
    if (from === undefined) return false
    s.held = from.bytes.subarray(from.used, from.used + entry.size)
    s.slab = from
    from.used += entry.size
    from.live++
    return true
  }

  const dropHeld = (s: Staged) => {
    const from = s.slab
    if (from === undefined) return
    s.held = undefined
    s.slab = undefined
    if (--from.live > 0) return
    if (from === slab) from.used = 0
    else giveSlab(from)
  }

  /**
   * Writes a block at `offset` into the entry's held contents or its temp (made on the first); a failure fails the
   * entry at `stage`.
   */
  const writeNow = (entry: Entry, offset: number, bytes: Uint8Array): void => {
    const s = staged.get(entry)
    // a file with a place and no descriptor is staged (its temp closed, or renamed inside a new directory's temp
    // already): nothing more goes into it
    if (s === undefined || s.errno !== 0 || s.need !== "contents" || (s.fd === undefined && s.place !== undefined)) return
    if (holdNow(s, entry)) {
      // copied: the block is a view of the transport's receive buffer, which its next read overwrites
      if (offset + bytes.length <= s.held!.length) s.held!.set(bytes, offset)
      else s.overflow = true
      return
    }
    if (s.fd === undefined) {
      const e = createNow(s, entry)
      if (e !== undefined) return void fail(s, e)
    }
    if (run !== undefined && (!inPass || run.s !== s || run.offset + run.length !== offset || run.length + bytes.length > RUN_BYTES)) flushNow()
    if (s.fd === undefined) return
    if (!inPass || bytes.length > RUN_BYTES) {
      hashInOrder(s, offset, bytes)
      const written = attemptNow("write", entry.path, () => writevAllSync(s.fd!, offset, [bytes]))
      if (written instanceof StoreError) fail(s, written)
      return
    }
    run ??= { s, path: entry.path, offset, length: 0 }
    runBuffer ??= new Uint8Array(RUN_BYTES)
    runBuffer.set(bytes, run.length)
    run.length += bytes.length
  }

  /**
   * Size of the open temp against the manifest's, its SHA-256 against `digest` (the sender's: the manifest's, or the
   * one sent after the data; the bytes not hashed as written read back); the temp's `fstat`, which also tells what
   * of its owner and mode is still to set.
   */
  const checkNow = (s: Staged, fd: number, entry: Entry, digest: Uint8Array | undefined): fs.Stats => {
    const st = fs.fstatSync(fd)
    const size = st.size
    if (size !== entry.size) throw sizeDiffers(size, entry)
    const hash = s.hash!
    // a small file's blocks come in order and were hashed as written: nothing to read back
    if (s.hashed < size) {
      const chunk = Buffer.allocUnsafe(Math.min(size - s.hashed, 1 << 20))
      for (let offset = s.hashed; offset < size;) {
        const n = fs.readSync(fd, chunk, 0, chunk.length, offset)
        if (n === 0) break
        hash.update(chunk.subarray(0, n))
        offset += n
      }
    }
    if (digest === undefined || !hash.digest().equals(digest)) throw digestDiffers()
    return st
  }

  /** Within the place's directory: the temp becomes the entry (inside a new directory's temp, unseen). */
  const settleNow = (s: Staged) => {
    if (!s.inside) return void s.ops.push({ op: "rename", path: s.rel, temp: s.temp! })
    const parent = openParentNow("stage", s.place!)
    if (parent instanceof StoreError) throw parent
    try {
      fs.renameSync(at(parent.fd, s.temp!), at(parent.fd, parent.name))
      s.temp = undefined
    } finally {
      release(parent)
    }
  }

  /**
   * A held file (or an empty one): its contents checked in memory, then its temp made whole in one go, nothing
   * written before the check.
   */
  const stageHeldNow = (s: Staged, entry: Entry, mode: number, digest: Uint8Array | undefined) => {
    const bytes = s.held ?? new Uint8Array(0)
    if (s.overflow || bytes.length !== entry.size) throw sizeDiffers(s.overflow ? entry.size + 1 : bytes.length, entry)
    if (digest === undefined || !equalBytes(sha256(bytes), digest)) throw digestDiffers()
    noticeSetId(entry, mode)
    const full = roomNow(entry)
    if (full !== undefined) throw full
    const { parent, inside } = parentNow(s.parts)
    if (parent instanceof StoreError) throw parent
    try {
      const temp = tempName(parent.name)
      if (!inside) touchNow(parent)
      const errno = createFile(parent.fd, temp, bytes, { mode, uid: entry.uid, gid: entry.gid, chown: root, sec: entry.mtime.sec, nsec: entry.mtime.nsec })
      if (errno !== 0) throw errnoError(errno, "create")
      s.place = parent.rel
      s.temp = temp
      s.inside = inside
    } finally {
      release(parent)
    }
    closeTemp(s)
    settleNow(s)
  }

  const noticeSetId = (entry: Entry, mode: number) => {
    if (mode === (entry.mode & 0o7777)) return
    options.notice("setidDropped", `${entry.path}: setuid/setgid bits dropped (mode ${(entry.mode & 0o7777).toString(8)} → ${mode.toString(8)}; --keep-setid applies them)`)
  }

  const stageFileNow = (s: Staged, entry: Entry, digest: Uint8Array | undefined) => {
    if (s.need === "metadata") return void s.ops.push(metaOp(entry, s.rel))
    const mode = modeOf(entry)
    if (s.fd === undefined && s.temp === undefined) {
      if (s.held === undefined && entry.size !== 0) throw Object.assign(new Error("no contents arrived"), { code: "EIO", errno: EIO })
      return stageHeldNow(s, entry, mode, digest)
    }
    const fd = s.fd!
    const st = checkNow(s, fd, entry, digest)
    noticeSetId(entry, mode)
    // only what differs from how the temp was made: a file of the daemon's owner and of the temp's mode costs no
    // call; a change of owner clears setuid/setgid, so the mode is set after it
    const chowned = root && (st.uid !== entry.uid || st.gid !== entry.gid)
    if (chowned) fs.fchownSync(fd, entry.uid, entry.gid)
    if (chowned || (st.mode & 0o7777) !== mode) fs.fchmodSync(fd, mode)
    const t = secondsOf(entry.mtime.sec, entry.mtime.nsec)
    fs.futimesSync(fd, t, t)
    closeTemp(s)
    settleNow(s)
  }

  const stageSymlinkNow = (s: Staged, entry: Entry, parts: ReadonlyArray<string>) => {
    const { parent, inside } = parentNow(parts)
    if (parent instanceof StoreError) throw parent
    try {
      const temp = tempName(parent.name)
      fs.symlinkSync(bytePath("", entry.target ?? ""), at(parent.fd, temp))
      s.place = parent.rel
      s.temp = temp
      s.inside = inside
      if (root) fs.lchownSync(at(parent.fd, temp), entry.uid, entry.gid)
      const t = secondsOf(entry.mtime.sec, entry.mtime.nsec)
      fs.lutimesSync(at(parent.fd, temp), t, t)
    } finally {
      release(parent)
    }
    settleNow(s)
  }

  /** A directory: in place already (its metadata switched), made inside a new directory's temp, or new itself. */
  const stageDirectoryNow = (s: Staged, entry: Entry, parts: ReadonlyArray<string>) => {
    const path = parts.join("/")
    let place = placeOf(parts)
    if (place === undefined && !newDirs.has(path)) {
      const made = newAncestorNow(parts, parts.length)
      if (made instanceof StoreError) throw made
      place = placeOf(parts)
    }
    const temp = newDirs.get(path)
    if (temp !== undefined) place = [...parts.slice(0, -1), temp].join("/")
    if (place !== undefined) {
      const { parent } = temp === undefined ? parentNow(parts) : { parent: openParentNow("stage", place) }
      if (parent instanceof StoreError) throw parent
      try {
        const here = at(parent.fd, temp ?? parent.name)
        if (fs.lstatSync(here, { throwIfNoEntry: false }) === undefined) fs.mkdirSync(here, { mode: 0o700 })
        const fd = fs.openSync(here, DIR_FLAGS)
        try {
          if (root) fs.fchownSync(fd, entry.uid, entry.gid)
          fs.fchmodSync(fd, modeOf(entry))
        } finally {
          closeQuietly(fd)
        }
      } finally {
        release(parent)
      }
    }
    // its times last, once everything under it is in place
    s.ops.push(metaOp(entry, path))
  }

  /** Checks and finishes the entry's staging (a file's contents against `digest`); 0, or the errno that fails it. */
  const stageNow = (entry: Entry, digest = entry.digest): number => {
    flushNow()
    const s = staged.get(entry)
    if (s === undefined) return EIO
    if (s.errno !== 0) return closeTemp(s), s.errno
    const done = attemptNow("stage", entry.path, () => {
      switch (entry.type) {
        case "file":
          return stageFileNow(s, entry, digest)
        case "symlink":
          return stageSymlinkNow(s, entry, s.parts)
        case "directory":
          return stageDirectoryNow(s, entry, s.parts)
      }
    })
    return done instanceof StoreError ? fail(s, done) : 0
  }

  /** The journaled switch: renames (new directories first), removals, files' metadata, directories' metadata. */
  const opsOf = (entries: ReadonlyArray<Entry>, removals: ReadonlyArray<string>, whole: boolean): Array<Op> => {
    const renames: Array<Op> = [...newDirs].map(([path, temp]) => ({ op: "rename", path, temp }))
    const metas: Array<Op> = []
    const dirs: Array<Op> = []
    for (const entry of entries) {
      for (const op of staged.get(entry)?.ops ?? []) {
        if (op.op === "rename") renames.push(op)
        else if (op.op === "meta" && op.directory) dirs.push(op)
        else metas.push(op)
      }
    }
    return [...renames, ...removals.map((path): Op => ({ op: "remove", path, whole })), ...metas, ...dirs]
  }

  /**
   * Puts every staged entry in place at once, the intent journaled first. 0, or the errno of the
   * first step that failed (the others are carried out all the same). `whole`: the removals are `sync`'s named
   * paths, each with all it holds (journal.ts, `remove`). `afterIntent` runs between the journal and the first
   * rename: a test's crash point.
   */
  const switchNow = (
    txn: number,
    entries: ReadonlyArray<Entry>,
    removals: ReadonlyArray<string>,
    { afterIntent, whole = false }: { readonly whole?: boolean; readonly afterIntent?: () => void } = {}
  ): StoreError | undefined => {
    flushNow()
    const ops = opsOf(entries, removals, whole)
    const journal = writeIntentNow(options.journalDir, { txn, base: store.base, ops })
    if (journal instanceof StoreError) return journal
    afterIntent?.()
    // every step is tried (each can be done twice), so a failed one leaves the others done: nothing is undone
    const failed = applyAllNow(store, ops)
    markDoneNow(journal)
    forget()
    return failed
  }

  /** Removes every temp of the transaction (the new directories' with everything in them). */
  const discardNow = (): void => {
    run = undefined
    const remove = (place: string, temp: string, dir: boolean) => {
      const parent = openParentNow("discard", place)
      if (parent instanceof StoreError) return
      attemptNow("discard", place, () => (dir ? removeTree(parent.fd, temp, place) : unlinkAt(parent.fd, temp)))
      release(parent)
    }
    for (const s of staged.values()) {
      closeTemp(s)
      if (s.temp !== undefined && !s.inside) remove(s.place!, s.temp, false)
    }
    for (const [path, temp] of newDirs) remove(path, temp, true)
    for (const { place, atime, mtime } of touched.values()) {
      const parent = openParentNow("discard", place)
      if (parent instanceof StoreError) continue
      attemptNow("discard", place, () => fs.futimesSync(parent.fd, atime, mtime))
      release(parent)
    }
    forget()
  }

  /** The temps this transaction holds beside their targets (files, links, new directories), relative to the base. */
  const tempsNow = (): Array<string> => {
    const beside = (path: string, temp: string) => path.slice(0, path.lastIndexOf("/") + 1) + temp
    const temps = [...newDirs].map(([path, temp]) => beside(path, temp))
    for (const s of staged.values()) if (s.temp !== undefined && !s.inside) temps.push(beside(s.place!, s.temp))
    return temps
  }

  const forget = () => {
    staged.clear()
    options.held.give(heldBytes)
    heldBytes = 0
    slab = undefined
    newDirs.clear()
    touched.clear()
    forgetRecordNow(record)
    record = undefined
  }

  return { lookupNow, lookupAllNow, refusalOf, writeNow, stageNow, switchNow, discardNow, tempsNow, passNow, beginPassNow, endPassNow }
}

export type Staging = ReturnType<typeof make>
