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
 * `renameAt`: `from` becomes `to`, both in the directory `dirFd` (a switch's temp over its target); `renameAll`: many
 * such pairs in one directory, each with its own errno (a switch's renames, one call per directory).
 *
 * `statNames`: the `lstat` of many names in one directory (a manifest batch's lookup, one call per directory), as
 * numbers in a `Float64Array` (`STAT`), not a `Stats` object and a /proc path per name.
 */
import * as fs from "node:fs"
import { constants } from "node:os"
import { loadNative } from "../net/native.js"
import { hasEscapedBytes, utf8Bytes } from "../protocol/text.js"
import { at, closeQuietly, errnoOf, writevAllSync } from "./FileStore.js"
import { nulStrings } from "./nulStrings.js"

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
 * wanted one to within a microsecond, which is what `staging.ts` `sameTimeAt` accepts.
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

export type RenameAt = (dirFd: number, from: string, to: string) => number

export const renameAtByFs: RenameAt = (dirFd, from, to) => {
  try {
    fs.renameSync(at(dirFd, from), at(dirFd, to))
    return 0
  } catch (e) {
    return errnoOf(e).errno
  }
}

/** Where each name's numbers are in `statNames`' fields, `STAT_FIELDS` per name (native/makuo_stage.c's order). */
export const STAT = { errno: 0, mode: 1, uid: 2, gid: 3, size: 4, mtimeSec: 5, mtimeNsec: 6 } as const
export const STAT_FIELDS = 7

/**
 * `lstat` of each of `names` in the directory `dirFd` (nothing followed) into `fields` from 0, `STAT_FIELDS` per
 * name: its errno (0: found; ENOENT: nothing there), mode, uid, gid, size, mtime (seconds, nanoseconds).
 */
export type StatNames = (dirFd: number, names: ReadonlyArray<string>, fields: Float64Array) => void

const { ENOENT } = constants.errno

export const statNamesByFs: StatNames = (dirFd, names, fields) => {
  names.forEach((name, i) => {
    const f = i * STAT_FIELDS
    try {
      const st = fs.lstatSync(at(dirFd, name), { bigint: true, throwIfNoEntry: false })
      if (st === undefined) return void (fields[f + STAT.errno] = ENOENT)
      fields[f + STAT.errno] = 0
      fields[f + STAT.mode] = Number(st.mode)
      fields[f + STAT.uid] = Number(st.uid)
      fields[f + STAT.gid] = Number(st.gid)
      fields[f + STAT.size] = Number(st.size)
      fields[f + STAT.mtimeSec] = Number(st.mtimeNs / 1_000_000_000n)
      fields[f + STAT.mtimeNsec] = Number(st.mtimeNs % 1_000_000_000n)
    } catch (e) {
      fields[f + STAT.errno] = errnoOf(e).errno
    }
  })
}

/** `pairs`: from, to, from, to…, every pair renamed in `dirFd`; the errno of pair i (0: done) in `errnos[i]`. */
export type RenameAll = (dirFd: number, pairs: ReadonlyArray<string>, errnos: Int32Array) => void

export const renameAllByFs: RenameAll = (dirFd, pairs, errnos) => {
  for (let i = 0; 2 * i < pairs.length; i++) errnos[i] = renameAtByFs(dirFd, pairs[2 * i]!, pairs[2 * i + 1]!)
}

interface StageAddon {
  readonly renameAt: (dirFd: number, from: string | Uint8Array, to: string | Uint8Array) => number
  readonly statNames: (dirFd: number, names: Uint8Array, count: number, fields: Float64Array) => number
  readonly renameAll: (dirFd: number, names: Uint8Array, count: number, errnos: Int32Array) => number
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

/** The names of one call, kept for every call. */
const kept = nulStrings(16 * 1024)

/**
 * `names` as the addon takes a list (`nulStrings`); undefined for a name that cannot be one (empty, a NUL or a
 * slash in it), which the `node:fs` call then refuses by itself.
 */
const namesArg = (names: ReadonlyArray<string>): Uint8Array | undefined => {
  kept.clear()
  for (const name of names) {
    if (name.length === 0 || name.includes("\0") || name.includes("/")) return undefined
    kept.push(name)
  }
  return kept.bytes()
}

/** The addon's `statNames`, or undefined. */
export const addonStatNames = (): StatNames | undefined => {
  const stat = addon()?.statNames
  if (stat === undefined) return undefined
  return (dirFd, names, fields) => {
    const bytes = namesArg(names)
    const errno = bytes === undefined ? -1 : stat(dirFd, bytes, names.length, fields)
    if (errno !== 0) statNamesByFs(dirFd, names, fields)
  }
}

/** The addon's `renameAll`, or undefined. */
export const addonRenameAll = (): RenameAll | undefined => {
  const rename = addon()?.renameAll
  if (rename === undefined) return undefined
  return (dirFd, pairs, errnos) => {
    const bytes = namesArg(pairs)
    const errno = bytes === undefined ? -1 : rename(dirFd, bytes, pairs.length >> 1, errnos)
    if (errno !== 0) renameAllByFs(dirFd, pairs, errnos)
  }
}

let chosenCreate: CreateFile | undefined
let chosenRename: RenameAt | undefined

/** The addon's where it is built, else `node:fs`'s. */
export const createFile: CreateFile = (dirFd, name, bytes, spec) => (chosenCreate ??= addonCreateFile() ?? createFileByFs)(dirFd, name, bytes, spec)
export const renameAt: RenameAt = (dirFd, from, to) => (chosenRename ??= addonRenameAt() ?? renameAtByFs)(dirFd, from, to)

let chosenStat: StatNames | undefined
let chosenRenameAll: RenameAll | undefined

export const statNames: StatNames = (dirFd, names, fields) => (chosenStat ??= addonStatNames() ?? statNamesByFs)(dirFd, names, fields)
export const renameAll: RenameAll = (dirFd, pairs, errnos) => (chosenRenameAll ??= addonRenameAll() ?? renameAllByFs)(dirFd, pairs, errnos)
