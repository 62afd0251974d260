/**
 * The switch of a tree transaction (docs/transactions.md, "Crash safety"): its intent — every temp → target
 * rename, the removals, the metadata of entries switched in place, directory metadata last — is written to a
 * journal file outside the base and synced before anything under the base changes; then it is carried out; then
 * the journal is removed (and its directory synced). A daemon killed between the two leaves the journal: at the
 * next start, before the stale temp sweep would remove the temps it names, it is carried out again (`rollForward`).
 * Every step can be done twice: a temp already renamed is skipped, a removal of nothing removes nothing, metadata
 * set again is the same. Every path goes through the store's confined walk (no symlink followed).
 */
import * as fs from "node:fs"
import { constants, homedir } from "node:os"
import { dirname, isAbsolute, join, relative } from "node:path"
import {
  at,
  attemptNow,
  closeQuietly,
  DIR_FLAGS,
  type FileStoreShape,
  isRoot,
  isTempName,
  type Parent,
  READ_FLAGS,
  removeTree,
  StoreError,
  unlinkAt
} from "./FileStore.js"
import { type ParentCache, withParentCache } from "./parentCache.js"
import { errnoError } from "./errnoError.js"
import { renameAll, renameAt, secondsOf } from "./stageCalls.js"

export type Op =
  /** The temp `temp` beside `path` (same directory) becomes `path`, whatever was there removed. */
  | { readonly op: "rename"; readonly path: string; readonly temp: string }
  /**
   * `whole` (`sync`'s named paths): with all it holds. Otherwise (`--delete`, whose scan listed a directory's
   * contents before it) a directory only when empty: what came into it after the scan (another transfer's temp,
   * another transaction's file) stays, and so does the directory.
   */
  | { readonly op: "remove"; readonly path: string; readonly whole?: boolean }
  /** Owner, mode and times of the entry at `path`, set through its own descriptor. */
  | {
    readonly op: "meta"
    readonly path: string
    readonly directory: boolean
    readonly mode: number
    readonly uid: number
    readonly gid: number
    readonly sec: number
    readonly nsec: number
  }

export interface Intent {
  readonly txn: number
  /** The base the paths are relative to: a journal is never carried out under another. */
  readonly base: string
  readonly ops: ReadonlyArray<Op>
}

const SUFFIX = ".journal"
const STAGING = ".staging"

/**
 * Where journals go unless `--journal-dir` says: `/var/lib/makuo/journal` for root, else the user's state
 * directory (`$XDG_STATE_HOME/makuo/journal`, `~/.local/state/makuo/journal`). Never under a base: a journal
 * there would be received, listed and swept like any file.
 */
export const defaultJournalDir = (env: NodeJS.ProcessEnv = process.env, uid = process.geteuid?.() ?? 0): string => {
  if (uid === 0) return "/var/lib/makuo/journal"
  const state = env.XDG_STATE_HOME !== undefined && env.XDG_STATE_HOME !== "" ? env.XDG_STATE_HOME : join(homedir(), ".local", "state")
  return join(state, "makuo", "journal")
}

/**
 * Whether `dir` is `base` or lies under it (both absolute; `base` with its links resolved): `dir`'s longest
 * existing part is resolved too, so a symlink into the base is seen through.
 */
export const isWithin = (dir: string, base: string): boolean => {
  let existing = dir
  while (!fs.existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing)
  const resolved = join(fs.realpathSync(existing), relative(existing, dir))
  const r = relative(base, resolved)
  return r === "" || (!r.startsWith("..") && !isAbsolute(r))
}

const sync = (dir: string) => {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY)
  try {
    fs.fsyncSync(fd)
  } finally {
    closeQuietly(fd)
  }
}

let counter = 0

/** A new name in `dir` (created 0700 if missing) ending in `suffix`. */
const fresh = (dir: string, suffix: string) => {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  return join(dir, `txn-${process.pid}-${Date.now()}-${counter++}${suffix}`)
}

/**
 * A transaction's new directories are staged as temp directories, which the stale temp sweep leaves alone (a
 * directory of a temp's name may be content): each is recorded (`path`, `temp`) in the transaction's staging
 * record here as it is made, so that a start after a crash removes those a switch never renamed. Not synced: a
 * record lost with the crash leaves a temp directory behind, nothing worse. The record's path.
 */
export const recordTempDirectoryNow = (dir: string, record: string | undefined, base: string, path: string, temp: string): string | StoreError =>
  attemptNow("journal", dir, () => {
    const file = record ?? fresh(dir, STAGING)
    fs.appendFileSync(file, JSON.stringify({ base, path, temp }) + "\n", { mode: 0o600 })
    return file
  })

/** Writes and syncs the intent in `dir` (created 0700 if missing); the journal's path. */
export const writeIntentNow = (dir: string, intent: Intent): string | StoreError =>
  attemptNow("journal", dir, () => {
    const path = fresh(dir, SUFFIX)
    const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600)
    try {
      fs.writeSync(fd, JSON.stringify(intent))
      fs.fsyncSync(fd)
    } finally {
      closeQuietly(fd)
    }
    sync(dir)
    return path
  })

/** The switch is done: the journal goes, and its directory is synced so that it is never carried out again later. */
export const markDoneNow = (path: string): StoreError | undefined => {
  const r = attemptNow("journal", path, () => {
    fs.unlinkSync(path)
    sync(join(path, ".."))
  })
  return r instanceof StoreError ? r : undefined
}

const { EEXIST, EISDIR, ENOENT, ENOTDIR, ENOTEMPTY } = constants.errno
/** A rename's target of the other kind, or a directory that is not empty. */
const REPLACED = new Set([EISDIR, ENOTDIR, EEXIST, ENOTEMPTY])
/** A removal's parent gone (removed, or replaced by a file): nothing to remove. */
const GONE = new Set(["ENOENT", "ENOTDIR"])
/** A directory to remove that is gone already, or holds what came after the scan. */
const KEPT = new Set(["ENOENT", "ENOTEMPTY", "EEXIST"])

/** A rename whose first try gave `errno`, finished: done, done already, or what stood in its way removed first. */
const renamedNow = (parent: Parent, op: Extract<Op, { op: "rename" }>, errno: number): void => {
  // the parent is open, so only the temp can be missing: renamed already (a switch done twice)
  if (errno === 0 || errno === ENOENT) return
  if (!REPLACED.has(errno)) throw errnoError(errno, "rename")
  // a directory where a file goes (or the reverse, or a full directory): the old entry goes first; a crash
  // here leaves the temp, and the roll-forward removes what is left of the old entry and renames again
  removeTree(parent.fd, parent.name, op.path)
  const again = renameAt(parent.fd, op.temp, parent.name)
  if (again !== 0) throw errnoError(again, "rename")
}

/** One step of a switch; done twice, it changes nothing more. */
export const applyNow = (store: FileStoreShape, op: Op, parents: ParentCache): StoreError | undefined => {
  if (op.op === "remove" && op.whole === true) {
    const r = store.removeNow(op.path)
    return r instanceof StoreError ? r : undefined
  }
  const parent = parents.openNow("switch", op.path)
  if (parent instanceof StoreError) return op.op === "remove" && GONE.has(parent.code) ? undefined : parent
  try {
    const r = attemptNow("switch", op.path, () => {
      if (op.op === "remove") {
        if (unlinkAt(parent.fd, parent.name)) return
        try {
          fs.rmdirSync(at(parent.fd, parent.name))
        } catch (e) {
          if (!KEPT.has((e as NodeJS.ErrnoException).code ?? "")) throw e
        }
        return
      }
      if (op.op === "rename") return renamedNow(parent, op, renameAt(parent.fd, op.temp, parent.name))
      const fd = fs.openSync(at(parent.fd, parent.name), op.directory ? DIR_FLAGS : READ_FLAGS)
      try {
        if (isRoot()) fs.fchownSync(fd, op.uid, op.gid)
        fs.fchmodSync(fd, op.mode & 0o7777)
        const t = secondsOf(op.sec, op.nsec)
        fs.futimesSync(fd, t, t)
      } finally {
        closeQuietly(fd)
      }
    })
    return r instanceof StoreError ? r : undefined
  } finally {
    parents.release(parent)
  }
}

/**
 * Carries out every step; the first failure, the others done all the same (each step stands alone). The parents
 * are walked to once per directory for the whole switch, and the renames in a row into one directory are one call
 * (`renameAll`): a switch of many small files is one rename each, and little else.
 */
export const applyAllNow = (store: FileStoreShape, ops: ReadonlyArray<Op>): StoreError | undefined =>
  withParentCache(store, (parents) => {
    let first: StoreError | undefined
    const note = (e: StoreError | undefined) => void (e !== undefined && first === undefined && (first = e))
    /** The renames in a row into the directory open as `fd`, not yet carried out. */
    const run: Array<{ readonly op: Extract<Op, { op: "rename" }>; readonly parent: Parent }> = []
    const pairs: Array<string> = []
    let runDir: string | undefined
    let errnos = new Int32Array(64)
    const flush = () => {
      if (run.length === 0) return
      if (errnos.length < run.length) errnos = new Int32Array(2 * run.length)
      renameAll(run[0]!.parent.fd, pairs, errnos)
      for (let k = 0; k < run.length; k++) {
        const { op, parent } = run[k]!
        // done (nearly every one): nothing more to try for it
        if (errnos[k] !== 0) {
          const r = attemptNow("switch", op.path, () => renamedNow(parent, op, errnos[k]!))
          if (r instanceof StoreError) note(r)
        }
        parents.release(parent)
      }
      run.length = 0
      pairs.length = 0
    }
    for (const op of ops) {
      if (op.op !== "rename") {
        flush()
        note(applyNow(store, op, parents))
        continue
      }
      // the run so far is carried out before another directory is walked to: a rename in it may be what puts
      // that directory in place
      const dir = op.path.slice(0, Math.max(0, op.path.lastIndexOf("/")))
      if (dir !== runDir) flush()
      runDir = dir
      const parent = parents.openNow("switch", op.path)
      if (parent instanceof StoreError) {
        note(parent)
        continue
      }
      if (run.length > 0 && run[0]!.parent.fd !== parent.fd) flush()
      run.push({ op, parent })
      pairs.push(op.temp, parent.name)
    }
    flush()
    return first
  })

export interface Recovered {
  /** What was done, one line each, for the log. */
  readonly lines: ReadonlyArray<string>
}

/**
 * Carries out every journal in `dir` that is still there (its switch did not finish), then removes it. A journal
 * that does not parse was being written when the daemon died: nothing had changed yet, it is removed (its temps
 * are the stale temp sweep's). One of another base is left alone and said so.
 */
export const rollForwardNow = (dir: string, store: FileStoreShape): Recovered => {
  const lines: Array<string> = []
  let all: Array<string>
  try {
    all = fs.readdirSync(dir).sort()
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") lines.push(`journal directory ${dir}: ${(e as Error).message}`)
    return { lines }
  }
  for (const name of all.filter((n) => n.endsWith(SUFFIX))) {
    const path = join(dir, name)
    let intent: Intent
    try {
      intent = JSON.parse(fs.readFileSync(path, "utf8")) as Intent
      if (!Array.isArray(intent.ops)) throw new Error("no steps")
    } catch (e) {
      markDoneNow(path)
      lines.push(`journal ${path} removed unread (${(e as Error).message}): its switch had not started`)
      continue
    }
    if (intent.base !== store.base) {
      lines.push(`journal ${path} is for base ${intent.base}, not ${store.base}: left as it is`)
      continue
    }
    const failed = applyAllNow(store, intent.ops)
    markDoneNow(path)
    const renames = intent.ops.filter((op) => op.op === "rename").length
    const removals = intent.ops.filter((op) => op.op === "remove").length
    lines.push(
      `rolled forward transaction ${intent.txn} from ${path}: ${renames} renames, ${removals} removals, ` +
        `${intent.ops.length - renames - removals} metadata` + (failed === undefined ? "" : `; a step failed: ${failed.message}`)
    )
  }
  // after the switches: a temp directory one of them renamed is gone, the others were never switched
  for (const name of all.filter((n) => n.endsWith(STAGING))) lines.push(...removeStagedNow(join(dir, name), store))
  return { lines }
}

/** Removes the temp directories a staging record names (of this base, still there); then the record. */
const removeStagedNow = (record: string, store: FileStoreShape): Array<string> => {
  const lines: Array<string> = []
  const text = attemptNow("journal", record, () => fs.readFileSync(record, "utf8"))
  for (const line of text instanceof StoreError ? [] : text.split("\n")) {
    let staged: { base?: unknown; path?: unknown; temp?: unknown }
    try {
      staged = JSON.parse(line) as typeof staged
    } catch {
      continue // the line a crash cut off, or the empty last one
    }
    const { path, temp } = staged
    if (staged.base !== store.base || typeof path !== "string" || typeof temp !== "string" || !isTempName(temp)) continue
    const parent = store.openParentNow("remove", path, false)
    if (parent instanceof StoreError) continue
    const removed = attemptNow("remove", path, () => {
      if (fs.lstatSync(at(parent.fd, temp), { throwIfNoEntry: false }) === undefined) return false
      removeTree(parent.fd, temp, path)
      return true
    })
    closeQuietly(parent.fd)
    if (removed === true) lines.push(`removed ${path.slice(0, path.lastIndexOf("/") + 1)}${temp}: a new directory staged by a transaction that never switched`)
    else if (removed instanceof StoreError) lines.push(`staged directory not removed: ${removed.message}`)
  }
  markDoneNow(record)
  return lines
}

/** The staging record is no longer needed: the transaction switched or discarded its temps. */
export const forgetRecordNow = (record: string | undefined) => {
  if (record !== undefined) attemptNow("journal", record, () => fs.rmSync(record, { force: true }))
}
