/**
 * A staged small file's temp, made whole in one go from the contents held in memory: created O_EXCL|O_NOFOLLOW
 * 0600 in its parent's descriptor (never an existing entry, never through a link), written, given the owner
 * (`chown`: root only) and mode it lacks — the mode after the owner, whose change clears setuid/setgid — and its
 * times, closed. Any failure removes the temp again and answers its errno. The addon (`native/makuo_stage.c`) does
 * it in one call through `openat`; without it (not built, `MAKUO_IO=dgram`) the same steps go through `node:fs`.
 */
import * as fs from "node:fs"
import { loadNative } from "../net/native.js"
import { hasEscapedBytes, utf8Bytes } from "../protocol/text.js"
import { secondsOf } from "./journal.js"
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

interface StageAddon {
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

/** The addon's `createFile`, or undefined (not built, built from older sources, or `MAKUO_IO=dgram`). */
export const addonCreateFile = (): CreateFile | undefined => {
  const native = loadNative()
  const addon = typeof native === "string" ? undefined : native as unknown as Partial<StageAddon>
  const create = addon?.createFile
  if (create === undefined) return undefined
  return (dirFd, name, bytes, spec) =>
    create(dirFd, hasEscapedBytes(name) ? utf8Bytes(name) : name, bytes, spec.mode & 0o7777, spec.uid, spec.gid, spec.chown, spec.sec, spec.nsec)
}

let chosen: CreateFile | undefined

/** The addon's where it is built, else `node:fs`'s. */
export const createFile: CreateFile = (dirFd, name, bytes, spec) => (chosen ??= addonCreateFile() ?? createFileByFs)(dirFd, name, bytes, spec)
