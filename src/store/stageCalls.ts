/**
 * The calls a member makes per staged small file, each one call into the addon (`native/makuo_stage.c`, through
 * the parent's descriptor: `openat`, `renameat`) where it is built, else the same steps through `node:fs` (not
 * built, `MAKUO_IO=dgram`). Both answer 0 or the errno, never throw.
 *
 * `createFile`: a staged small file's temp, made whole in one go from the contents held in memory: created
 * O_EXCL|O_NOFOLLOW 0600 in its parent's descriptor (never an existing entry, never through a link), written, given
 * the owner (`chown`: root only) and mode it lacks — the mode after the owner, whose change clears setuid/setgid —
 * and its times, closed. Any failure removes the temp again.
 *
 * `renameAt`: `from` becomes `to`, both in the directory `dirFd` (a switch's temp over its target).
 */
import * as fs from "node:fs"
import { getSystemErrorName } from "node:util"
import { loadNative } from "../net/native.js"
import { strerror } from "../protocol/errno.js"
import { hasEscapedBytes, utf8Bytes } from "../protocol/text.js"
import { at, closeQuietly, errnoOf, writevAllSync } from "./FileStore.js"

export interface FileSpec {
  readonly mode: number
  readonly uid: number
  readonly gid: number
  /** Give the file `uid`:`gid` when it differs from the creator's (only root can). */
  readonly chown: boolean
  readonly sec: number
  readonly nsec: number
}

/** 0, or the errno that failed the temp (which is then gone). */
export type CreateFile = (dirFd: number, name: string, bytes: Uint8Array, spec: FileSpec) => number

const C = fs.constants

/**
 * Node sets times through a double of seconds (libuv), ~240 ns apart at today's dates: the time set is the
 * wanted one to within a microsecond, which is what `sameTime` accepts.
 */
export const secondsOf = (sec: number, nsec: number) => sec + nsec / 1e9

export const createFileByFs: CreateFile = (dirFd, name, bytes, spec) => {
  const path = at(dirFd, name)
  let fd: number
  try {
    fd = fs.openSync(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600)
  } catch (e) {
    return errnoOf(e).errno
  }
  try {
    if (bytes.length > 0) writevAllSync(fd, 0, [bytes])
    const st = fs.fstatSync(fd)
    const mode = spec.mode & 0o7777
    const chowned = spec.chown && (st.uid !== spec.uid || st.gid !== spec.gid)
    if (chowned) fs.fchownSync(fd, spec.uid, spec.gid)
    if (chowned || (st.mode & 0o7777) !== mode) fs.fchmodSync(fd, mode)
    const t = secondsOf(spec.sec, spec.nsec)
    fs.futimesSync(fd, t, t)
    fs.closeSync(fd)
    return 0
  } catch (e) {
    closeQuietly(fd)
    try {
      fs.unlinkSync(path)
    } catch {
      // gone already: nothing to undo
    }
    return errnoOf(e).errno
  }
}

/** The error `node:fs` would have thrown for `errno` in `call`: what `attemptNow` makes a `StoreError` of. */
export const errnoError = (errno: number, call: string): Error & { readonly code: string; readonly errno: number } => {
  const code = getSystemErrorName(-errno)
  return Object.assign(new Error(`${code}: ${strerror(errno).toLowerCase()}, ${call}`), { code, errno })
}

export type RenameAt = (dirFd: number, from: string, to: string) => number

export const renameAtByFs: RenameAt = (dirFd, from, to) => {
  try {
    fs.renameSync(at(dirFd, from), at(dirFd, to))
    return 0
  } catch (e) {
    return errnoOf(e).errno
  }
}

interface StageAddon {
  readonly renameAt: (dirFd: number, from: string | Uint8Array, to: string | Uint8Array) => number
  readonly createFile: (
    dirFd: number,
    name: string | Uint8Array,
    bytes: Uint8Array,
    mode: number,
    uid: number,
    gid: number,
    chown: boolean,
    sec: number,
    nsec: number
  ) => number
}

const addon = (): Partial<StageAddon> | undefined => {
  const native = loadNative()
  return typeof native === "string" ? undefined : native as unknown as Partial<StageAddon>
}

/** A name the addon takes: as it is, or by its bytes when it is no UTF-8. */
const nameArg = (name: string): string | Uint8Array => (hasEscapedBytes(name) ? utf8Bytes(name) : name)

/** The addon's `createFile`, or undefined (not built, built from older sources, or `MAKUO_IO=dgram`). */
export const addonCreateFile = (): CreateFile | undefined => {
  const create = addon()?.createFile
  if (create === undefined) return undefined
  return (dirFd, name, bytes, spec) => create(dirFd, nameArg(name), bytes, spec.mode & 0o7777, spec.uid, spec.gid, spec.chown, spec.sec, spec.nsec)
}

/** The addon's `renameAt`, or undefined. */
export const addonRenameAt = (): RenameAt | undefined => {
  const rename = addon()?.renameAt
  return rename === undefined ? undefined : (dirFd, from, to) => rename(dirFd, nameArg(from), nameArg(to))
}

let chosenCreate: CreateFile | undefined
let chosenRename: RenameAt | undefined

/** The addon's where it is built, else `node:fs`'s. */
export const createFile: CreateFile = (dirFd, name, bytes, spec) => (chosenCreate ??= addonCreateFile() ?? createFileByFs)(dirFd, name, bytes, spec)
export const renameAt: RenameAt = (dirFd, from, to) => (chosenRename ??= addonRenameAt() ?? renameAtByFs)(dirFd, from, to)
