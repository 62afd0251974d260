/**
 * A directory's entries, each `lstat`ed through the directory's descriptor (nothing followed), as the store's
 * `LocalEntry`s sorted by name. The addon (native/makuo_fs.c) lists a directory in one call, into buffers kept here; without it (not built,
 * `MAKUO_IO=dgram`), Node's calls give the same entries: a `readdir`, then an `lstat` (and a `readlink` for a
 * symlink) per entry, each a `Stats` object with its dates and a path through `/proc/self/fd` — the bulk of the
 * sender's time per file in a tree of small files. Both throw as Node's calls do, an `Error` with the errno's
 * `code`, `errno` and message.
 */
import * as fs from "node:fs"
import { loadNative } from "../net/native.js"
import { decodeName } from "../protocol/text.js"
import { errnoError } from "./errnoError.js"
import type { EntryKind, FileIdentity, FileVersion, LocalEntry } from "./FileStore.js"

/** A name the file system returned as bytes; never undefined (no NUL in a directory entry or a link target). */
export const nameOf = (bytes: Uint8Array): string => decodeName(bytes) ?? Buffer.from(bytes).toString("latin1")

const S_IFMT = 0o170000
const kinds = new Map<number, EntryKind>([[0o100000, "file"], [0o040000, "directory"], [0o120000, "symlink"]])
export const kindOf = (mode: number): EntryKind => kinds.get(mode & S_IFMT) ?? "other"

const NS = 1_000_000_000n

/**
 * A time in nanoseconds as whole seconds, rounded down (before 1970 too), and the nanoseconds after them: both exact
 * in a double. The scan's `mtime`/`ctime` are its seconds, a transaction's manifest carries both.
 */
export const splitNs = (ns: bigint): { readonly sec: number; readonly nsec: number } => {
  let sec = ns / NS
  let nsec = ns % NS
  if (nsec < 0n) (sec -= 1n), (nsec += NS)
  return { sec: Number(sec), nsec: Number(nsec) }
}

export const versionOf = (st: fs.BigIntStats): FileVersion => ({ size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs })

const identityOf = (st: fs.BigIntStats): FileIdentity => ({ dev: Number(st.dev), ino: Number(st.ino) })

/** An entry from what `lstat` (bigint: the times to the nanosecond) gives. */
export const entryOf = (st: fs.BigIntStats, linkTarget: string): LocalEntry => ({
  kind: kindOf(Number(st.mode)),
  mode: Number(st.mode),
  uid: Number(st.uid),
  gid: Number(st.gid),
  size: Number(st.size),
  mtime: splitNs(st.mtimeNs).sec,
  ctime: splitNs(st.ctimeNs).sec,
  rdev: Number(st.rdev),
  linkTarget,
  identity: identityOf(st),
  version: versionOf(st)
})

export interface Listed {
  readonly name: string
  readonly entry: LocalEntry
}

/** Lists the directory open as `fd`; `path(name)` names an entry in it for Node's calls. */
export type Lister = (fd: number, path: (name: string) => string | Buffer) => Array<Listed>

const byName = (a: Listed, b: Listed) => (a.name < b.name ? -1 : 1)

/** Node's calls: an entry gone between the listing and its `lstat` is left out. */
export const nodeLister: Lister = (_fd, path) => {
  const listed: Array<Listed> = []
  for (const bytes of fs.readdirSync(path("."), "buffer")) {
    const name = nameOf(bytes)
    const at = path(name)
    const st = fs.lstatSync(at, { bigint: true, throwIfNoEntry: false })
    if (st !== undefined) listed.push({ name, entry: entryOf(st, st.isSymbolicLink() ? nameOf(fs.readlinkSync(at, "buffer")) : "") })
  }
  return listed.sort(byName)
}

/** What the addon exports for the store (native/makuo_fs.c): a count or 0, or -errno. */
interface NativeFs {
  readonly listDir: (dirFd: number, bytes: Uint8Array, fields: Float64Array) => number
}

/** Per entry in `fields`, in native/makuo_fs.c's order. */
const F = { mode: 0, uid: 1, gid: 2, size: 3, mtimeSec: 4, mtimeNsec: 5, ctimeSec: 6, ctimeNsec: 7, rdev: 8, dev: 9, ino: 10, linkAt: 11, linkLength: 12, nameEnd: 13 }
const FIELDS = 14
const ENOBUFS = 105
/** The buffers kept for every listing; a directory that needs more gets larger ones for its own listing only. */
const KEPT_BYTES = 64 * 1024
const KEPT_ENTRIES = 1024
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/** The entry's version from its numbers at `f` in `fields`. */
const versionIn = (fields: Float64Array, f: number): FileVersion => ({
  size: fields[f + F.size]!,
  mtimeNs: BigInt(fields[f + F.mtimeSec]!) * NS + BigInt(fields[f + F.mtimeNsec]!),
  ctimeNs: BigInt(fields[f + F.ctimeSec]!) * NS + BigInt(fields[f + F.ctimeNsec]!)
})

const identityIn = (fields: Float64Array, f: number): FileIdentity => ({ dev: fields[f + F.dev]!, ino: fields[f + F.ino]! })

const addonLister = ({ listDir }: NativeFs): Lister => {
  const kept = { bytes: Buffer.allocUnsafe(KEPT_BYTES), fields: new Float64Array(KEPT_ENTRIES * FIELDS) }
  return (fd) => {
    let { bytes, fields } = kept
    let n = listDir(fd, bytes, fields)
    while (n === -ENOBUFS) {
      bytes = Buffer.allocUnsafe(bytes.length * 2)
      fields = new Float64Array(fields.length * 2)
      n = listDir(fd, bytes, fields)
    }
    if (n < 0) throw errnoError(n, "scandir")
    // the names, each followed by a '/' (which no name holds), decoded at once: a '/' never falls inside a
    // character, so the text splits where the names end; a name that is no UTF-8 is decoded on its own
    const nameEnd = (i: number) => fields[i * FIELDS + F.nameEnd]!
    let names: Array<string>
    try {
      names = n === 0 ? [] : utf8.decode(bytes.subarray(0, nameEnd(n - 1))).split("/")
    } catch {
      names = []
      for (let i = 0; i < n; i++) names.push(nameOf(bytes.subarray(i === 0 ? 0 : nameEnd(i - 1) + 1, nameEnd(i))))
    }
    const listed: Array<Listed> = new Array(n)
    for (let i = 0; i < n; i++) {
      const f = i * FIELDS
      const mode = fields[f + F.mode]!
      const kind = kindOf(mode)
      const linkAt = fields[f + F.linkAt]!
      const version = versionIn(fields, f)
      listed[i] = {
        name: names[i]!,
        entry: {
          kind,
          mode,
          uid: fields[f + F.uid]!,
          gid: fields[f + F.gid]!,
          size: version.size,
          mtime: fields[f + F.mtimeSec]!,
          ctime: fields[f + F.ctimeSec]!,
          rdev: fields[f + F.rdev]!,
          linkTarget: kind === "symlink" ? nameOf(bytes.subarray(linkAt, linkAt + fields[f + F.linkLength]!)) : "",
          identity: identityIn(fields, f),
          version
        }
      }
    }
    return listed.sort(byName)
  }
}

/** The addon's lister, or why there is none. */
export const addonDirLister = (): Lister | string => {
  const native = loadNative()
  if (typeof native === "string") return native
  const calls = native as unknown as Partial<NativeFs>
  return calls.listDir === undefined ? "the native addon was built without listDir (rebuild it)" : addonLister(calls as NativeFs)
}

let chosen: Lister | undefined

/** The addon's lister where it loads with it, else Node's. */
export const defaultLister = (): Lister => {
  if (chosen === undefined) {
    const addon = addonDirLister()
    chosen = typeof addon === "string" ? nodeLister : addon
  }
  return chosen
}
