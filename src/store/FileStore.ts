/**
 * Everything that touches the base dir. Paths are resolved component by component from an open descriptor of
 * the base with O_NOFOLLOW|O_DIRECTORY, and every operation addresses its entry through its parent's descriptor
 * (`/proc/self/fd/N/name`, Linux's openat from user space), so a symlink planted in a parent component is never
 * followed, not even if it appears between a check and a use: local users may own directories in the base and
 * swap their entries while the daemon (root) works on them. Reading and removing through such a link is refused
 * (ELOOP); writing replaces the link itself with a real directory, as the sender's tree has a directory there.
 * Every operation returns its failure as a `StoreError`, whatever the errno (EMFILE included), and never throws:
 * the receive path calls them from socket callbacks.
 *
 * Files are replaced atomically: data goes to a temp file in the target's directory, metadata is set on the temp
 * file's descriptor, then one rename. Operations are synchronous system calls wrapped in Effects: each is short,
 * and the receive path stays in order without a context switch per block.
 *
 * The primitives exported besides the store (`at`, `removeTree`, the flags, ...) are for the other modules of
 * `store/` that touch the base by the same rules (`staging.ts`, `journal.ts`), always from `openParentNow`.
 */
import { Context, Data, Effect, Either, Layer, Option } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { yieldToEventLoop } from "../yieldToEventLoop.js"
import { hasEscapedBytes, utf8Bytes, utf8Length } from "../protocol/text.js"
import { defaultLister, entryOf, kindOf, nameOf, versionOf } from "./listing.js"
import { isPlainRelative, type PathRefused, splitRelative } from "./paths.js"
import { EACCES, EIO, ELOOP, ENOSPC, ENOTSUP, ESTALE } from "../protocol/errno.js"

const C = fs.constants
/** For directories; O_DIRECTORY refuses a FIFO in the directory's place before any wait for a writer. */
export const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW
/**
 * An existing file is opened without blocking: a FIFO a local user renamed over it since it was checked would
 * otherwise block the open until a writer comes, and the daemon with it. Reads of a regular file ignore the flag.
 */
export const READ_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK
/**
 * How deep a removal descends: deeper than any path the protocol can name (PATH_MAX 4095 bytes), and one open
 * descriptor per level.
 */
const MAX_REMOVE_DEPTH = 2048

export class StoreError extends Data.TaggedError("StoreError")<{
  readonly op: string
  readonly path: string
  readonly code: string
  /** Positive errno, as makuosan puts it in an error ACK. */
  readonly errno: number
  readonly detail: string
}> {
  override get message() {
    return `${this.op} ${this.path}: ${this.detail}`
  }
}

export type EntryKind = "file" | "directory" | "symlink" | "other"

export interface LocalEntry {
  readonly kind: EntryKind
  /** st_mode including the file-type bits. */
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly size: number
  /** Whole seconds, as on the wire. */
  readonly mtime: number
  readonly ctime: number
  readonly rdev: number
  readonly linkTarget: string
  /** Which file this is: `openReaderNow` checks that what it opened is the file the scan saw. */
  readonly identity: FileIdentity
  /** Its size and times to the nanosecond, as the `lstat` saw them. */
  readonly version: FileVersion
}

export interface FileIdentity {
  readonly dev: number
  readonly ino: number
}

/** What changes when a file's content is written: its size and times, to the nanosecond where the system keeps them. */
export interface FileVersion {
  readonly size: number
  readonly mtimeNs: bigint
  readonly ctimeNs: bigint
}

export interface Metadata {
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly mtime: number
}

export interface TempFile {
  readonly rel: string
  readonly dirFd: number
  readonly fd: number
  readonly name: string
  readonly temp: string
}

export interface Reader {
  readonly size: number
  /** The version as opened (the `fstat` that checked the descriptor): no second `fstat` to know it. */
  readonly opened: FileVersion
  /** Reads into `into` from file offset `offset`; returns the bytes read. */
  readonly read: (offset: number, into: Uint8Array) => Effect.Effect<number, StoreError>
  /**
   * Reads consecutive bytes from file offset `offset` into the buffers in turn (one `preadv`), without an Effect:
   * the transfer engine's DATA pump calls it per burst. The bytes read, or the failure.
   */
  readonly readvNow: (offset: number, into: ReadonlyArray<Uint8Array>) => number | StoreError
  /** The open file's size and change times now (`fstat`): equal before and after reading, what was read is one version. */
  readonly versionNow: () => FileVersion | StoreError
  readonly close: Effect.Effect<void>
  /** `close` without an Effect; closing twice is harmless. */
  readonly closeNow: () => void
}

/**
 * `name` in the directory open as `dirFd`. A name that is not valid UTF-8 (escaped bytes, see protocol/text) goes
 * to the system as its bytes: a string would be re-encoded.
 */
export const at = (dirFd: number, name: string): string | Buffer => bytePath(`/proc/self/fd/${dirFd}/`, name)

export const bytePath = (prefix: string, name: string): string | Buffer =>
  hasEscapedBytes(name) ? Buffer.concat([Buffer.from(prefix), utf8Bytes(name)]) : prefix + name

export { nameOf }

const sameInode = (a: FileIdentity, b: FileIdentity) => a.dev === b.dev && a.ino === b.ino

const isInode = (st: fs.BigIntStats, identity: FileIdentity) => sameInode({ dev: Number(st.dev), ino: Number(st.ino) }, identity)

export const isRoot = () => process.geteuid?.() === 0

const codeOf = (e: unknown) => (e as NodeJS.ErrnoException).code

/** Closing never fails an operation: the descriptor is gone either way (Linux frees it even on EINTR or EIO). */
/** Blocks a run of writes takes at most before it goes out (the kernel takes 1024 buffers per `writev`). */
export const MAX_RUN = 256

/** Writes `buffers` back to back at `offset` of `fd`: one `pwritev`, more where the kernel takes part of them. Throws as fs does. */
export const writevAllSync = (fd: number, offset: number, buffers: ReadonlyArray<Uint8Array>): void => {
  let rest = buffers
  let at = offset
  while (rest.length > 0) {
    let n = fs.writevSync(fd, rest, at)
    at += n
    let i = 0
    while (i < rest.length && n >= rest[i]!.length) n -= rest[i++]!.length
    rest = i < rest.length && n > 0 ? [rest[i]!.subarray(n), ...rest.slice(i + 1)] : rest.slice(i)
  }
}

export const closeQuietly = (fd: number) => {
  try {
    fs.closeSync(fd)
  } catch {
    // nothing to undo
  }
}

/** Removes the entry `name` in `dirFd` if it is not a directory; false when it is one. ENOENT counts as removed. */
export const unlinkAt = (dirFd: number, name: string): boolean => {
  try {
    fs.unlinkSync(at(dirFd, name))
  } catch (e) {
    if (codeOf(e) === "EISDIR") return false
    if (codeOf(e) !== "ENOENT") throw e
  }
  return true
}

/**
 * The descriptor of directory `name` in `dirFd`, or undefined once the entry is gone: an entry that is no
 * directory (a symlink swapped in for it: the open refuses to follow it) is unlinked itself.
 */
const openToRemove = (dirFd: number, name: string): number | undefined => {
  for (let tries = 0; ; tries++) {
    try {
      return fs.openSync(at(dirFd, name), DIR_FLAGS)
    } catch (e) {
      const code = codeOf(e)
      if (code === "ENOENT") return undefined
      // swapped back and forth faster than we look: give up rather than spin
      if ((code !== "ELOOP" && code !== "ENOTDIR") || tries === 3) throw e
    }
    if (unlinkAt(dirFd, name)) return undefined
  }
}

/**
 * Removes `name` in `dirFd` and, for a directory, everything below it, without ever resolving a path: each
 * directory is opened with O_NOFOLLOW through its parent's descriptor, listed and emptied through its own, then
 * removed through its parent's. A directory a local user swaps for a symlink meanwhile is refused by the open and
 * only the link is removed: nothing outside it is reached (a path-based recursive removal checks an entry, then
 * lists and unlinks through a path a swapped link redirects). An explicit stack, so depth costs no native stack.
 */
export const removeTree = (dirFd: number, name: string, rel: string) => {
  if (unlinkAt(dirFd, name)) return
  const stack: Array<{ readonly parent: number; readonly name: string; readonly fd: number; readonly subdirs: Array<string> }> = []
  const enter = (parent: number, name: string) => {
    if (stack.length >= MAX_REMOVE_DEPTH) {
      throw Object.assign(new Error(`more than ${MAX_REMOVE_DEPTH} directory levels below ${rel}`), { code: "ELOOP", errno: ELOOP })
    }
    const fd = openToRemove(parent, name)
    if (fd === undefined) return
    const subdirs: Array<string> = []
    stack.push({ parent, name, fd, subdirs })
    for (const child of fs.readdirSync(at(fd, "."), "buffer").map(nameOf)) if (!unlinkAt(fd, child)) subdirs.push(child)
  }
  try {
    enter(dirFd, name)
    while (stack.length > 0) {
      const top = stack.at(-1)!
      const next = top.subdirs.pop()
      if (next !== undefined) enter(top.fd, next)
      else {
        stack.pop()
        closeQuietly(top.fd)
        try {
          fs.rmdirSync(at(top.parent, top.name))
        } catch (e) {
          if (codeOf(e) !== "ENOENT") throw e
        }
      }
    }
  } finally {
    for (const frame of stack) closeQuietly(frame.fd)
  }
}

export const errnoOf = (e: unknown): { code: string; errno: number; detail: string } => {
  const err = e as NodeJS.ErrnoException
  return {
    code: err.code ?? "EIO",
    errno: Math.abs(err.errno ?? 5),
    detail: err.code !== undefined ? `${err.code} (${err.message.split(",")[0]?.replace(/^[A-Z]+: /, "")})` : String(e)
  }
}

export const attemptNow = <A>(op: string, path: string, f: () => A): A | StoreError => {
  try {
    return f()
  } catch (e) {
    return new StoreError({ op, path, ...errnoOf(e) })
  }
}

const attempt = <A>(op: string, path: string, f: () => A): Effect.Effect<A, StoreError> => lift(() => attemptNow(op, path, f))

/**
 * The Effect of a synchronous operation that returns its failure (the `...Now` operations, which the receive path
 * calls from its handlers without an Effect per file).
 */
const lift = <A>(f: () => A | StoreError): Effect.Effect<A, StoreError> =>
  Effect.suspend(() => {
    const r = f()
    return r instanceof StoreError ? Effect.fail(r) : Effect.succeed(r)
  })

/** An open parent directory of `rel` (its descriptor, the entry's name in it). */
export interface Parent {
  readonly fd: number
  readonly name: string
  /** `rel` normalised. */
  readonly rel: string
}

const refusal = (op: string, path: string, errno: number, code: string, detail: string) =>
  new StoreError({ op, path, errno, code, detail })

let tempCounter = 0
export const tempName = (name: string) => {
  // makuosan's pattern `<name>.makuo<NNN><micro>`, cut to fit NAME_MAX
  const suffix = `.makuo${String(tempCounter++ % 1000).padStart(3, "0")}${String(Math.floor(performance.now() * 1000) % 1_000_000).padStart(6, "0")}`
  const room = 255 - suffix.length
  return utf8Length(name) <= room ? name + suffix : Buffer.from(utf8Bytes(name)).subarray(0, room).toString("latin1").replace(/[^\x20-\x7e]/g, "_") + suffix
}

/**
 * True for names shaped like the temp files this module (and makuosan) creates. Only the start-up sweep of temp
 * files a crash left goes by the name (with their age); a scan skips just the live ones (`isLiveTemp`).
 */
export const isTempName = (name: string): boolean => /\.makuo\d{6,}$/.test(name)

export const make = (base: string) =>
  Effect.gen(function*() {
    const baseFd = yield* Effect.acquireRelease(
      attempt("open base", base, () => fs.openSync(base, C.O_RDONLY | C.O_DIRECTORY)),
      (fd) => Effect.sync(() => closeQuietly(fd))
    )
    yield* attempt("check", "/proc/self/fd", () => fs.statSync(at(baseFd, ".")))

    const parts = (op: string, rel: string) =>
      Either.mapLeft(splitRelative(rel), (e: PathRefused) => refusal(op, rel, EACCES, "EACCES", e.reason))

    /**
     * `rel` from the base as one path (a name that is no UTF-8 by its own bytes), for the sender's looks at what its
     * scan saw: one system call follows it, parents and all, and the caller then checks which inode it reached.
     */
    const pathNow = (op: string, rel: string): string | Buffer | StoreError => {
      if (isPlainRelative(rel)) return `${base}/${rel}`
      const split = parts(op, rel)
      return Either.isLeft(split) ? split.left : bytePath(`${base}/`, split.right.join("/"))
    }

    /** Opens the parent directory of `rel`; missing components are created (mode 0755) when `create`. */
    const openParentNow = (op: string, rel: string, create: boolean): Parent | StoreError => {
      const split = parts(op, rel)
      if (Either.isLeft(split)) return split.left
      const ps = split.right
      if (ps.length === 0) return refusal(op, rel, EACCES, "EACCES", "the base directory itself")
      let fd: number | undefined
      try {
        fd = fs.openSync(at(baseFd, "."), DIR_FLAGS)
        for (let i = 0; i < ps.length - 1; i++) {
          const part = ps[i]!
          const here = at(fd, part)
          let next: number
          try {
            next = fs.openSync(here, DIR_FLAGS)
          } catch (e) {
            const code = codeOf(e)
            const st = fs.lstatSync(here, { throwIfNoEntry: false })
            if (!create) {
              if (st?.isSymbolicLink()) {
                closeQuietly(fd)
                return refusal(op, rel, ELOOP, "ELOOP", `parent component '${part}' is a symlink (never followed)`)
              }
              throw e
            }
            if (code !== "ENOENT" && code !== "ENOTDIR" && code !== "ELOOP") throw e
            // the sender has a directory here: a file or a symlink in its place is replaced (the link itself is
            // removed, never followed), so the member converges to the sender's tree
            if (st !== undefined) fs.unlinkSync(here)
            fs.mkdirSync(here, { mode: 0o755 })
            next = fs.openSync(here, DIR_FLAGS)
          }
          closeQuietly(fd)
          fd = next
        }
        return { fd, name: ps.at(-1)!, rel: ps.join("/") }
      } catch (e) {
        if (fd !== undefined) closeQuietly(fd)
        return new StoreError({ op, path: rel, ...errnoOf(e) })
      }
    }

    /** Runs `f` with the parent's descriptor, closed afterwards; what `f` throws becomes a `StoreError`. */
    const withParentNow = <A>(op: string, rel: string, create: boolean, f: (fd: number, name: string) => A): A | StoreError => {
      const parent = openParentNow(op, rel, create)
      if (parent instanceof StoreError) return parent
      try {
        return attemptNow(op, rel, () => f(parent.fd, parent.name))
      } finally {
        closeQuietly(parent.fd)
      }
    }

    /** Below a symlink parent nothing exists as far as we are concerned: it is never followed. */
    const isAbsence = (e: StoreError) => e.code === "ENOENT" || e.code === "ENOTDIR" || e.code === "ELOOP"

    /**
     * lstat of `rel`, without following anything (`None` when it or a parent does not exist), keeping the parent's
     * descriptor open for the caller, who hands it to `createTempNow` or closes it with `releaseParent`: a receive
     * session that decides to update a file then creates its temp file without walking the parents again.
     */
    const inspectHoldingNow = (rel: string): { readonly found: Option.Option<LocalEntry>; readonly parent: Parent | undefined } | StoreError => {
      const parent = openParentNow("lstat", rel, false)
      if (parent instanceof StoreError) return isAbsence(parent) ? { found: Option.none(), parent: undefined } : parent
      const found = attemptNow("lstat", rel, () => {
        const st = fs.lstatSync(at(parent.fd, parent.name), { bigint: true, throwIfNoEntry: false })
        if (st === undefined) return Option.none<LocalEntry>()
        return Option.some(entryOf(st, st.isSymbolicLink() ? nameOf(fs.readlinkSync(at(parent.fd, parent.name), "buffer")) : ""))
      })
      if (!(found instanceof StoreError)) return { found, parent }
      closeQuietly(parent.fd)
      return isAbsence(found) ? { found: Option.none(), parent: undefined } : found
    }

    const releaseParent = (parent: Parent) => closeQuietly(parent.fd)

    /** lstat of `rel`, without following anything; `None` when it (or a parent) does not exist. */
    const inspectNow = (rel: string): Option.Option<LocalEntry> | StoreError => {
      const r = inspectHoldingNow(rel)
      if (r instanceof StoreError) return r
      if (r.parent !== undefined) releaseParent(r.parent)
      return r.found
    }

    /**
     * The temp files of transfers in flight (paths relative to the base), from their creation to their commit or
     * discard: the only temp-named entries a scan skips. Any other file named like a temp file is content (a local
     * user can name a file `x.makuo123456`: skipping every such name would let it survive `--delete`).
     */
    const liveTemps = new Set<string>()
    const liveKey = (t: TempFile) => t.rel.slice(0, t.rel.lastIndexOf("/") + 1) + t.temp

    /** Whether `rel` is the temp file of a transfer in flight here. */
    const isLiveTemp = (rel: string): boolean => {
      if (!isTempName(rel.slice(rel.lastIndexOf("/") + 1))) return false
      const split = splitRelative(rel)
      return Either.isRight(split) && liveTemps.has(split.right.join("/"))
    }

    const applyOwner = (fd: number, meta: Metadata) => {
      if (isRoot()) fs.fchownSync(fd, meta.uid, meta.gid)
    }

    /** Moves whatever is at `name` aside so `replace` can put the new entry there; removes it afterwards. */
    const replacing = (dirFd: number, name: string, replace: () => void) => {
      try {
        replace()
      } catch (e) {
        const code = codeOf(e)
        if (code !== "EISDIR" && code !== "ENOTDIR" && code !== "EEXIST" && code !== "ENOTEMPTY") throw e
        const aside = tempName(name)
        fs.renameSync(at(dirFd, name), at(dirFd, aside))
        try {
          replace()
        } catch (again) {
          fs.renameSync(at(dirFd, aside), at(dirFd, name))
          throw again
        }
        removeTree(dirFd, aside, aside)
      }
    }

    /**
     * Whether `size` bytes fit on the base's file system now: a peer's declared size is checked before a temp file
     * is made for it (a forged 2^40-byte file would otherwise fill the disk a block at a time, or sit as a sparse
     * temp file until the session is collected).
     */
    /** The bytes an unprivileged writer may still use under the base (`statfs`). */
    const freeBytesNow = (rel: string): number | StoreError =>
      attemptNow("create", rel, () => {
        const s = fs.statfsSync(base)
        return s.bavail * s.bsize
      })

    /** Refused (ENOSPC) when `size` bytes do not fit in `free`. */
    const roomIn = (rel: string, size: number, free: number): StoreError | undefined =>
      size <= free ? undefined : new StoreError({ op: "create", path: rel, code: "ENOSPC", errno: ENOSPC, detail: `${size} bytes do not fit: ${free} free under the base` })

    const roomForNow = (rel: string, size: number): StoreError | undefined => {
      if (size === 0) return undefined
      const free = freeBytesNow(rel)
      return free instanceof StoreError ? free : roomIn(rel, size, free)
    }

    /**
     * A temp file beside `rel`, owner-only while it is written (its mode is set when it is committed); in the
     * parent `inspectHoldingNow` kept open, when given; refused (ENOSPC) when `size` bytes do not fit.
     */
    const createTempNow = (rel: string, held?: Parent, size = 0): TempFile | StoreError => {
      const full = roomForNow(rel, size)
      if (full !== undefined) {
        if (held !== undefined) releaseParent(held)
        return full
      }
      // a held parent is ours from here: closed with the temp file, or now on failure
      const parent = held ?? openParentNow("create", rel, true)
      if (parent instanceof StoreError) return parent
      const temp = tempName(parent.name)
      const fd = attemptNow("create", rel, () => fs.openSync(at(parent.fd, temp), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600))
      if (fd instanceof StoreError) {
        closeQuietly(parent.fd)
        return fd
      }
      const t = { rel: parent.rel, dirFd: parent.fd, fd, name: parent.name, temp }
      liveTemps.add(liveKey(t))
      return t
    }

    /**
     * Positional write of consecutive buffers from `offset` without an Effect around it, for the DATA hot path: one
     * `pwritev` (more where the kernel takes part of them). Undefined, or the failure.
     */
    const writevNow = (t: TempFile, offset: number, buffers: ReadonlyArray<Uint8Array>): StoreError | undefined => {
      try {
        writevAllSync(t.fd, offset, buffers)
        return undefined
      } catch (e) {
        return new StoreError({ op: "write", path: t.rel, ...errnoOf(e) })
      }
    }

    const release = (t: TempFile) => {
      liveTemps.delete(liveKey(t))
      closeQuietly(t.fd)
      closeQuietly(t.dirFd)
    }

    /** Sets owner, mode and times on the temp file, checks its size, then renames it over the target. */
    const commitNow = (t: TempFile, meta: Metadata, size: number) =>
      attemptNow("commit", t.rel, () => {
        try {
          const st = fs.fstatSync(t.fd)
          if (st.size !== size) {
            throw Object.assign(new Error(`size ${st.size}, expected ${size}`), { code: "EIO", errno: EIO })
          }
          applyOwner(t.fd, meta)
          fs.fchmodSync(t.fd, meta.mode & 0o7777)
          fs.futimesSync(t.fd, meta.mtime, meta.mtime)
          replacing(t.dirFd, t.name, () => fs.renameSync(at(t.dirFd, t.temp), at(t.dirFd, t.name)))
        } catch (e) {
          attemptNow("discard", t.rel, () => unlinkAt(t.dirFd, t.temp))
          throw e
        } finally {
          release(t)
        }
      })

    /** Removes the temp file of a transfer that ends without a commit; its failure, if any, for a log. */
    const discardNow = (t: TempFile): StoreError | undefined => {
      const removed = attemptNow("discard", t.rel, () => unlinkAt(t.dirFd, t.temp))
      release(t)
      return removed instanceof StoreError ? removed : undefined
    }

    /** A directory in place (created, or replacing a non-directory), with owner and mode; times come later. */
    const ensureDirectoryNow = (rel: string, meta: Metadata) =>
      withParentNow("mkdir", rel, true, (dirFd, name) => {
        const path = at(dirFd, name)
        const st = fs.lstatSync(path, { throwIfNoEntry: false })
        if (st !== undefined && !st.isDirectory()) {
          replacing(dirFd, name, () => fs.mkdirSync(path, { mode: 0o700 }))
        } else if (st === undefined) fs.mkdirSync(path, { mode: 0o700 })
        const fd = fs.openSync(path, DIR_FLAGS)
        try {
          applyOwner(fd, meta)
          fs.fchmodSync(fd, meta.mode & 0o7777)
        } finally {
          closeQuietly(fd)
        }
      })

    /** A directory's times, set after its contents were written (makuosan-v7.md §11). */
    const finishDirectoryNow = (rel: string, meta: Metadata) =>
      withParentNow("utimes", rel, false, (dirFd, name) => {
        const fd = fs.openSync(at(dirFd, name), DIR_FLAGS)
        try {
          fs.futimesSync(fd, meta.mtime, meta.mtime)
        } finally {
          closeQuietly(fd)
        }
      })

    /** A symlink replaced atomically; its owner set with lchown, its mode never touched (makuosan-v7.md E17). */
    const placeSymlinkNow = (rel: string, target: string, meta: Metadata) =>
      withParentNow("symlink", rel, true, (dirFd, name) => {
        const temp = tempName(name)
        fs.symlinkSync(bytePath("", target), at(dirFd, temp))
        try {
          if (isRoot()) fs.lchownSync(at(dirFd, temp), meta.uid, meta.gid)
          replacing(dirFd, name, () => fs.renameSync(at(dirFd, temp), at(dirFd, name)))
        } catch (e) {
          attemptNow("symlink", rel, () => unlinkAt(dirFd, temp))
          throw e
        }
      })

    /** Removes `rel` (recursively for a directory, never following a link); false when nothing was there. */
    const removeNow = (rel: string): boolean | StoreError => {
      const removed = withParentNow("remove", rel, false, (dirFd, name) => {
        if (fs.lstatSync(at(dirFd, name), { throwIfNoEntry: false }) === undefined) return false
        removeTree(dirFd, name, rel)
        return true
      })
      return removed instanceof StoreError && (removed.code === "ENOENT" || removed.code === "ENOTDIR") ? false : removed
    }

    const readerOf = (rel: string, fd: number, opened: FileVersion): Reader => {
      let open = true
      const closeNow = () => {
        if (open) (open = false), closeQuietly(fd)
      }
      const readvNow = (offset: number, into: ReadonlyArray<Uint8Array>) => attemptNow("read", rel, () => fs.readvSync(fd, into, offset))
      return {
        size: opened.size,
        opened,
        read: (offset: number, into: Uint8Array) => attempt("read", rel, () => fs.readSync(fd, into, 0, into.length, offset)),
        readvNow,
        versionNow: () => attemptNow("fstat", rel, () => versionOf(fs.fstatSync(fd, { bigint: true }))),
        close: Effect.sync(closeNow),
        closeNow
      }
    }

    /**
     * A reader of `fd` (just opened with READ_FLAGS) if it is a regular file that `check` accepts; anything else (a
     * FIFO, a device or a directory put in the file's place) is refused, and the descriptor closed.
     */
    const readerAt = (rel: string, fd: number, check?: (st: fs.BigIntStats) => StoreError | undefined): Reader | StoreError => {
      try {
        const st = fs.fstatSync(fd, { bigint: true })
        const refused = st.isFile() ? check?.(st) : refusal("open", rel, ENOTSUP, "ENOTSUP", `not a regular file: ${kindOf(Number(st.mode)) === "other" ? "a FIFO, socket or device" : `a ${kindOf(Number(st.mode))}`}`)
        if (refused === undefined) return readerOf(rel, fd, versionOf(st))
        closeQuietly(fd)
        return refused
      } catch (e) {
        closeQuietly(fd)
        throw e
      }
    }

    const openReader = (rel: string): Effect.Effect<Reader, StoreError> =>
      lift(() => withParentNow("open", rel, false, (dirFd, name) => readerAt(rel, fs.openSync(at(dirFd, name), READ_FLAGS))))

    /**
     * Opens the file a scan saw, by its path in one system call instead of a confined walk from the base, then
     * makes sure it is that file: a component swapped for a symlink since (which the path lookup would follow) leads
     * to another inode, and is refused. What is read is always the scanned file, wherever the path leads now.
     */
    const openReaderNow = (rel: string, identity: FileIdentity): Reader | StoreError => {
      const path = pathNow("open", rel)
      if (path instanceof StoreError) return path
      return attemptNow("open", rel, () =>
        readerAt(rel, fs.openSync(path, READ_FLAGS), (st) =>
          isInode(st, identity) ? undefined : refusal("open", rel, ESTALE, "ESTALE", "not the file that was scanned: the path was replaced since")))
    }

    /**
     * MD5 (v7's check; a transaction's: SHA-256) of a regular file, read in 64 KiB chunks with a turn of the event
     * loop between them, so a large file never stalls the daemon's other work. The file must not be replaced under
     * us: it is read through one fd.
     */
    const digest = (rel: string, algorithm: "md5" | "sha256" = "md5") =>
      Effect.acquireUseRelease(openReader(rel), (reader) =>
        Effect.gen(function*() {
          const hash = createHash(algorithm)
          const chunk = new Uint8Array(64 * 1024)
          for (let offset = 0; ; ) {
            const n = yield* reader.read(offset, chunk)
            if (n === 0) break
            hash.update(chunk.subarray(0, n))
            offset += n
            yield* yieldToEventLoop
          }
          return new Uint8Array(hash.digest())
        }), (reader) => reader.close)

    /** Runs `f` on a descriptor of directory `rel` (the base itself for "."), opened through its confined parent. */
    const withDirectoryNow = <A>(op: string, rel: string, f: (fd: number) => A): A | StoreError => {
      const split = parts(op, rel)
      if (Either.isLeft(split)) return split.left
      if (split.right.length === 0) return attemptNow(op, rel, () => f(baseFd))
      return withParentNow(op, rel, false, (dirFd, name) => {
        const fd = fs.openSync(at(dirFd, name), DIR_FLAGS)
        try {
          return f(fd)
        } finally {
          closeQuietly(fd)
        }
      })
    }

    /**
     * The entries of directory `rel`, sorted by name, each `lstat`ed through the directory's descriptor (`listing.ts`):
     * the parent chain is opened once per directory, not once per entry. Entries gone since the listing are left out.
     */
    const listNow = (rel: string, lister = defaultLister()) => withDirectoryNow("readdir", rel, (fd) => lister(fd, (name) => at(fd, name)))

    /** Names and whether each is a directory, from one `readdir` with types: no `lstat` per entry. */
    const listKindsNow = (rel: string) =>
      withDirectoryNow("readdir", rel, (fd) =>
        fs.readdirSync(at(fd, "."), { withFileTypes: true, encoding: "buffer" }).map((d) => ({ name: nameOf(d.name), directory: d.isDirectory() })))

    /**
     * Removes the temp file `rel` if it is one a previous run left: a temp name, not a directory, and unchanged
     * since `before` (ctime, epoch ms) — a temp file a live transfer writes or commits has a newer ctime.
     */
    const removeStaleTempNow = (rel: string, before: number): boolean | StoreError =>
      withParentNow("remove", rel, false, (dirFd, name) => {
        const path = at(dirFd, name)
        const st = fs.lstatSync(path, { throwIfNoEntry: false })
        if (!isTempName(name) || st === undefined || st.isDirectory() || st.ctimeMs >= before) return false
        fs.unlinkSync(path)
        return true
      })

    return {
      base,
      inspect: (rel: string) => lift(() => inspectNow(rel)),
      inspectNow,
      inspectHoldingNow,
      openParentNow,
      releaseParent,
      roomForNow,
      freeBytesNow,
      roomIn,
      createTemp: (rel: string) => lift(() => createTempNow(rel)),
      createTempNow,
      writevNow,
      commit: (t: TempFile, meta: Metadata, size: number) => lift(() => commitNow(t, meta, size)),
      commitNow,
      discardNow,
      ensureDirectory: (rel: string, meta: Metadata) => lift(() => ensureDirectoryNow(rel, meta)),
      ensureDirectoryNow,
      finishDirectoryNow,
      placeSymlink: (rel: string, target: string, meta: Metadata) => lift(() => placeSymlinkNow(rel, target, meta)),
      placeSymlinkNow,
      remove: (rel: string) => lift(() => removeNow(rel)),
      removeNow,
      openReader,
      openReaderNow,
      digest,
      listNow,
      listKindsNow,
      removeStaleTempNow,
      isLiveTemp
    }
  })

export type FileStoreShape = Effect.Effect.Success<ReturnType<typeof make>>

export class FileStore extends Context.Tag("makuo/FileStore")<FileStore, FileStoreShape>() {}

export const layer = (base: string) => Layer.scoped(FileStore, make(base))
